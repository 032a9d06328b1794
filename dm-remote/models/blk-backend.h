/*
 * Where virtio-blk's bytes live: a small interface between the model
 * (rings, requests, features) and the image behind it, so that formats
 * beyond raw come through a library instead of a parser of ours.
 *
 *   blk-file.c  a raw file or a block device: an io_uring on the loop,
 *               or pread/pwrite/fallocate on the model API's worker
 *               threads (dm_work_submit) where io_uring is not allowed
 *   blk-nbd.c   an NBD export through libnbd (nbd+unix://, nbd://):
 *               qcow2 and everything else qemu-storage-daemon or
 *               qemu-nbd serve; libnbd's asynchronous API on the loop
 *
 * Everything here runs on the event loop (a clone: on its I/O thread).
 * A request is a BlkIo the
 * caller fills and keeps until its done callback has run; done runs on
 * the loop, later (never from inside submit; from inside unplug for what
 * the kernel finished at once), with err set.  A device's
 * quiesce calls drain: the back end's requests in flight are done when
 * it returns.  Offsets and lengths are in bytes, already checked against
 * the size.  Between plug and unplug (optional), submitted requests may
 * wait to go to the kernel together: one system call for a kick's batch.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BLK_BACKEND_H
#define BLK_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

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
    void *buf;                  /* READ, WRITE, unless iov is set */
    /*
     * READ, WRITE straight from/to these (guest memory: zero-copy), when
     * the back end can_iov: len bytes in all.  The back end may advance
     * them (a short transfer goes on from where it stopped).
     */
    struct iovec *iov;
    unsigned iovcnt;
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
    struct iovec one;           /* buf as an iovec */
    struct iovec *xiov;         /* what is left to transfer */
    unsigned xcnt;
    uint64_t done_bytes;
    void *bounce_mem;           /* O_DIRECT: an aligned copy */
    struct iovec bounce;
    bool buffered;              /* O_DIRECT: through the cached descriptor */
};

typedef struct BlkBackendOpts {
    bool readonly;              /* open for reading only */
    unsigned timeout_s;         /* NBD: the most a command may wait */
    bool direct;                /* file: O_DIRECT (cache=none) */
    unsigned lock_wait_s;       /* file: the most its lock is waited for */
    bool inline_writes;         /* file: small buffered writes at once */
    /* file: a write done at once and slower than this: a while off */
    int64_t inline_slow_ns;
} BlkBackendOpts;

/* What a slow write done at once is (BlkBackendOpts.inline_slow_ns). */
#define BLK_INLINE_SLOW_NS      1000000

/* What the image offers, known after open. */
typedef struct BlkBackendInfo {
    uint64_t size;              /* bytes */
    bool readonly;              /* refuses writes (forces VIRTIO_BLK_F_RO) */
    bool can_discard;
    bool can_write_zeroes;
    bool can_iov;               /* takes BlkIo.iov (else only buf) */
} BlkBackendInfo;

typedef struct BlkBackendOps {
    const char *name;
    /* Open @file for @dev and fill @info: 0 or -errno, with a log line. */
    int (*open)(DmDevice *dev, const char *file, const BlkBackendOpts *opts,
                BlkBackend **ret, BlkBackendInfo *info);
    /* Start @io: 0, or -errno and done will not run. */
    int (*submit)(BlkBackend *be, BlkIo *io);
    /*
     * Optional: hold requests submitted from now on until unplug, which
     * hands them to the kernel at once (the calls nest).
     */
    void (*plug)(BlkBackend *be);
    void (*unplug)(BlkBackend *be);
    /* Optional: return when no request is in flight (running done). */
    void (*drain)(BlkBackend *be);
    void (*close)(BlkBackend *be);
    /*
     * Optional, for a model's I/O thread (virtio-blk's iothread=on): a
     * second handle on the same image with a submission queue of its
     * own that no loop watches: the thread polls event_fd and calls reap,
     * which runs the done callbacks (on the thread).  Every call on the
     * clone comes from that one thread (open and close from the loop,
     * while no thread uses it); it is closed before the original.  NULL
     * where the back end cannot (no io_uring: worker threads complete
     * on the loop).
     */
    BlkBackend *(*clone)(BlkBackend *be);
    int (*event_fd)(BlkBackend *be);
    void (*reap)(BlkBackend *be);
} BlkBackendOps;

extern const BlkBackendOps blk_file_ops;
extern const BlkBackendOps blk_nbd_ops;

/* Whether file= names an NBD export (a URI libnbd opens). */
bool blk_nbd_is_uri(const char *file);

#endif /* BLK_BACKEND_H */
