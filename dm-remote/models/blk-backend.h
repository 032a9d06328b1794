/*
 * Where virtio-blk's bytes live: a small interface between the model
 * (rings, requests, features) and the image behind it, so that formats
 * beyond raw come through a library instead of a parser of ours.
 *
 *   blk-file.c  a raw file or a block device: pread/pwrite/fallocate on
 *               the model API's worker threads (dm_work_submit)
 *   blk-nbd.c   an NBD export through libnbd (nbd+unix://, nbd://):
 *               qcow2 and everything else qemu-storage-daemon or
 *               qemu-nbd serve; libnbd's asynchronous API on the loop
 *
 * Everything here runs on the event loop.  A request is a BlkIo the
 * caller fills and keeps until its done callback has run; done runs on
 * the loop, later (never from inside submit), with err set.  A device's
 * quiesce calls drain: the back end's requests in flight are done when
 * it returns.  Offsets and lengths are in bytes, already checked against
 * the size.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BLK_BACKEND_H
#define BLK_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

typedef struct BlkBackend BlkBackend;
typedef struct BlkIo BlkIo;

typedef enum BlkIoType {
    BLK_IO_READ,
    BLK_IO_WRITE,
    BLK_IO_FLUSH,               /* every write done before it is stable */
    BLK_IO_DISCARD,
    BLK_IO_WRITE_ZEROES,        /* @unmap: the range may be deallocated */
} BlkIoType;

struct BlkIo {
    /* The caller's. */
    BlkIoType type;
    void *buf;                  /* READ, WRITE */
    uint64_t off, len;
    bool unmap;
    void (*done)(BlkIo *io);
    /* Set when done runs: 0 or -errno. */
    int err;
    /* The back end's. */
    BlkBackend *be;
    DmWork work;
    unsigned parts;
    BlkIo *next;
};

typedef struct BlkBackendOpts {
    bool readonly;              /* open for reading only */
    unsigned timeout_s;         /* NBD: the most a command may wait */
} BlkBackendOpts;

/* What the image offers, known after open. */
typedef struct BlkBackendInfo {
    uint64_t size;              /* bytes */
    bool readonly;              /* refuses writes (forces VIRTIO_BLK_F_RO) */
    bool can_discard;
    bool can_write_zeroes;
} BlkBackendInfo;

typedef struct BlkBackendOps {
    const char *name;
    /* Open @file for @dev and fill @info: 0 or -errno, with a log line. */
    int (*open)(DmDevice *dev, const char *file, const BlkBackendOpts *opts,
                BlkBackend **ret, BlkBackendInfo *info);
    /* Start @io: 0, or -errno and done will not run. */
    int (*submit)(BlkBackend *be, BlkIo *io);
    /* Optional: return when no request is in flight (running done). */
    void (*drain)(BlkBackend *be);
    void (*close)(BlkBackend *be);
} BlkBackendOps;

extern const BlkBackendOps blk_file_ops;
extern const BlkBackendOps blk_nbd_ops;

/* Whether file= names an NBD export (a URI libnbd opens). */
bool blk_nbd_is_uri(const char *file);

#endif /* BLK_BACKEND_H */
