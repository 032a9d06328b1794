/*
 * Where virtio-blk's bytes live: a small interface between the model
 * (rings, requests, features) and the image behind it, so that formats
 * beyond raw come through a library instead of a parser of ours.
 *
 *   blk-file.c  a raw file or a block device (pread/pwrite/fallocate)
 *   blk-nbd.c   an NBD export through libnbd (nbd+unix://, nbd://):
 *               qcow2 and everything else qemu-storage-daemon or
 *               qemu-nbd serve
 *
 * open and close run on the event loop (at realize and unrealize); the
 * I/O calls run on the model API's worker threads, several at a time,
 * so each back end makes them safe to call concurrently.  Every call
 * returns 0 or -errno; offsets and lengths are in bytes and already
 * checked against the size.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BLK_BACKEND_H
#define BLK_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

typedef struct BlkBackend BlkBackend;

/* What the image offers, known after open. */
typedef struct BlkBackendInfo {
    uint64_t size;              /* bytes */
    bool readonly;              /* refuses writes (forces VIRTIO_BLK_F_RO) */
    bool can_discard;
    bool can_write_zeroes;
} BlkBackendInfo;

typedef struct BlkBackendOps {
    const char *name;
    /* Open @file (writable unless @readonly) and fill @info. */
    int (*open)(const char *file, bool readonly, BlkBackend **ret,
                BlkBackendInfo *info);
    int (*read)(BlkBackend *be, void *buf, uint64_t len, uint64_t off);
    int (*write)(BlkBackend *be, const void *buf, uint64_t len,
                 uint64_t off);
    /* Every write completed before it is on stable storage. */
    int (*flush)(BlkBackend *be);
    int (*discard)(BlkBackend *be, uint64_t off, uint64_t len);
    /* Zeroes; @unmap lets the back end deallocate the range. */
    int (*write_zeroes)(BlkBackend *be, uint64_t off, uint64_t len,
                        bool unmap);
    void (*close)(BlkBackend *be);
} BlkBackendOps;

extern const BlkBackendOps blk_file_ops;
extern const BlkBackendOps blk_nbd_ops;

/* Whether file= names an NBD export (a URI libnbd opens). */
bool blk_nbd_is_uri(const char *file);

#endif /* BLK_BACKEND_H */
