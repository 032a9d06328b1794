/*
 * virtio-blk's NBD back end: the image is an export of an NBD server on
 * the same server platform (qemu-storage-daemon or qemu-nbd), reached
 * through libnbd.  Image formats (qcow2's thin images, backing files,
 * snapshots) are the NBD server's business, not ours:
 *
 *   file=nbd+unix:///EXPORT?socket=PATH   (or nbd://HOST[:PORT]/EXPORT)
 *
 * No lock here: the NBD server owns the image and locks it itself.
 *
 * Threads.  The I/O calls come from the model API's worker threads, one
 * request each, several at once.  We keep ONE connection and serialize
 * its commands with our own mutex: each worker issues its command with
 * libnbd's asynchronous API and drives the handle (nbd_poll) until that
 * command completes, all under the mutex, so the handle has a single
 * user at a time.  Not one connection per worker, because qemu-nbd
 * serves one client unless told otherwise (--shared), and because a
 * FLUSH on one connection covers only that connection's writes unless
 * the server promises multi-conn consistency.  The cost is one command
 * on the wire at a time; moving the handle onto the event loop
 * (dm_loop_add_fd with nbd_aio_get_fd) would pipeline them.
 *
 * A server that goes away: its socket closes, libnbd fails the command
 * in flight and every later one (the handle is dead), and the request
 * ends in IOERR.  A server that stops answering without closing: after
 * NBD_TIMEOUT_MS we shut the socket down ourselves (libnbd then never
 * touches the request's buffer again) and treat the connection as dead.
 * Either way the model keeps running; a restart of the model (its
 * --state-file) reconnects.
 *
 * FLUSH on a server that does not offer it (no NBD_FLAG_SEND_FLUSH)
 * succeeds at once, as QEMU's own NBD client does (block/nbd.c,
 * nbd_client_co_flush): such a server writes through.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <libnbd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "loop.h"
#include "blk-backend.h"

/* How long connecting, or one command, may take. */
#define NBD_TIMEOUT_MS      30000
/* Ranges of DISCARD and WRITE_ZEROES go out in pieces of at most this. */
#define NBD_RANGE_MAX       (1u << 30)

struct BlkBackend {
    struct nbd_handle *h;
    pthread_mutex_t lock;       /* one command on the handle at a time */
    bool dead;                  /* timed out: no more commands */
    bool can_flush;
};

bool blk_nbd_is_uri(const char *file)
{
    static const char *const schemes[] = {
        "nbd://", "nbd+unix://", "nbds://", "nbds+unix://",
    };

    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        if (!strncmp(file, schemes[i], strlen(schemes[i]))) {
            return true;
        }
    }
    return false;
}

static int64_t now_ms(void)
{
    return dm_clock_ns() / 1000000;
}

/* libnbd's error of the last call on this thread, as -errno. */
static int bn_err(void)
{
    int e = nbd_get_errno();

    return -(e > 0 ? e : EIO);
}

/* Drive the handle until command @cookie is done: 0 or -errno. */
static int bn_wait(BlkBackend *be, int64_t cookie)
{
    int64_t end = now_ms() + NBD_TIMEOUT_MS;

    if (cookie < 0) {
        return bn_err();
    }
    for (;;) {
        int64_t left;
        int r = nbd_aio_command_completed(be->h, cookie);

        if (r == 1) {
            return 0;
        }
        if (r < 0) {
            return bn_err();   /* failed, or the connection died */
        }
        left = end - now_ms();
        if (left <= 0) {
            dm_warn("virtio-blk: the NBD server did not answer in %d s: "
                    "dropping the connection", NBD_TIMEOUT_MS / 1000);
            shutdown(nbd_aio_get_fd(be->h), SHUT_RDWR);
            be->dead = true;
            return -ETIMEDOUT;
        }
        if (nbd_poll(be->h, left < 1000 ? (int)left : 1000) < 0 &&
            (nbd_aio_is_dead(be->h) || nbd_aio_is_closed(be->h))) {
            /* Gone: the command is failed (or done) by now. */
            r = nbd_aio_command_completed(be->h, cookie);
            return r == 1 ? 0 : r < 0 ? bn_err() : -EIO;
        }
    }
}

typedef enum NbdCmd {
    NBD_READ, NBD_WRITE, NBD_FLUSH, NBD_TRIM, NBD_ZERO,
} NbdCmd;

static int bn_run(BlkBackend *be, NbdCmd cmd, void *buf, uint64_t len,
                   uint64_t off, uint32_t flags)
{
    int64_t cookie = -1;
    int ret;

    pthread_mutex_lock(&be->lock);
    if (be->dead) {
        pthread_mutex_unlock(&be->lock);
        return -EIO;
    }
    switch (cmd) {
    case NBD_READ:
        cookie = nbd_aio_pread(be->h, buf, len, off, NBD_NULL_COMPLETION,
                               0);
        break;
    case NBD_WRITE:
        cookie = nbd_aio_pwrite(be->h, buf, len, off, NBD_NULL_COMPLETION,
                                0);
        break;
    case NBD_FLUSH:
        cookie = nbd_aio_flush(be->h, NBD_NULL_COMPLETION, 0);
        break;
    case NBD_TRIM:
        cookie = nbd_aio_trim(be->h, len, off, NBD_NULL_COMPLETION, 0);
        break;
    case NBD_ZERO:
        cookie = nbd_aio_zero(be->h, len, off, NBD_NULL_COMPLETION, flags);
        break;
    }
    ret = bn_wait(be, cookie);
    pthread_mutex_unlock(&be->lock);
    return ret;
}

/* A range in pieces the server takes in one command. */
static int bn_run_range(BlkBackend *be, NbdCmd cmd, uint64_t off,
                         uint64_t len, uint32_t flags)
{
    while (len) {
        uint64_t n = len < NBD_RANGE_MAX ? len : NBD_RANGE_MAX;
        int ret = bn_run(be, cmd, NULL, n, off, flags);

        if (ret < 0) {
            return ret;
        }
        off += n;
        len -= n;
    }
    return 0;
}

static int bn_open(const char *uri, bool readonly, BlkBackend **ret,
                    BlkBackendInfo *info)
{
    BlkBackend *be = calloc(1, sizeof(*be));
    int64_t end = now_ms() + NBD_TIMEOUT_MS, size;
    int err = -EIO;

    if (!be) {
        return -ENOMEM;
    }
    pthread_mutex_init(&be->lock, NULL);
    be->h = nbd_create();
    if (!be->h) {
        dm_error("virtio-blk: libnbd: %s", nbd_get_error());
        goto fail;
    }
    if (!nbd_supports_uri(be->h)) {
        dm_error("virtio-blk: this libnbd cannot open NBD URIs");
        err = -ENOTSUP;
        goto fail;
    }
    /* Connect and negotiate under the same deadline as commands. */
    if (nbd_aio_connect_uri(be->h, uri) < 0) {
        goto fail_nbd;
    }
    while (nbd_aio_is_connecting(be->h)) {
        int64_t left = end - now_ms();

        if (left <= 0) {
            dm_error("virtio-blk: %s did not answer in %d s", uri,
                     NBD_TIMEOUT_MS / 1000);
            err = -ETIMEDOUT;
            goto fail;
        }
        if (nbd_poll(be->h, left < 1000 ? (int)left : 1000) < 0) {
            goto fail_nbd;
        }
    }
    if (!nbd_aio_is_ready(be->h)) {
        dm_error("virtio-blk: cannot connect to %s", uri);
        goto fail;
    }
    size = nbd_get_size(be->h);
    if (size < 0) {
        goto fail_nbd;
    }
    be->can_flush = nbd_can_flush(be->h) == 1;
    *info = (BlkBackendInfo) {
        .size = size,
        .readonly = readonly || nbd_is_read_only(be->h) == 1,
        .can_discard = nbd_can_trim(be->h) == 1,
        .can_write_zeroes = nbd_can_zero(be->h) == 1,
    };
    *ret = be;
    return 0;

fail_nbd:
    err = bn_err();
    dm_error("virtio-blk: %s: %s", uri, nbd_get_error());
fail:
    nbd_close(be->h);           /* NULL is fine */
    pthread_mutex_destroy(&be->lock);
    free(be);
    return err;
}

static int bn_read(BlkBackend *be, void *buf, uint64_t len, uint64_t off)
{
    return len ? bn_run(be, NBD_READ, buf, len, off, 0) : 0;
}

static int bn_write(BlkBackend *be, const void *buf, uint64_t len,
                     uint64_t off)
{
    return len ? bn_run(be, NBD_WRITE, (void *)buf, len, off, 0) : 0;
}

static int bn_flush(BlkBackend *be)
{
    return be->can_flush ? bn_run(be, NBD_FLUSH, NULL, 0, 0, 0) : 0;
}

static int bn_discard(BlkBackend *be, uint64_t off, uint64_t len)
{
    return bn_run_range(be, NBD_TRIM, off, len, 0);
}

static int bn_write_zeroes(BlkBackend *be, uint64_t off, uint64_t len,
                            bool unmap)
{
    /* NBD may deallocate zeroed ranges unless told NO_HOLE. */
    return bn_run_range(be, NBD_ZERO, off, len,
                         unmap ? 0 : LIBNBD_CMD_FLAG_NO_HOLE);
}

static void bn_close(BlkBackend *be)
{
    /*
     * A polite NBD_CMD_DISC if the server is still there, without waiting
     * for it (nbd_shutdown would wait on a server that hangs).
     */
    if (!be->dead && nbd_aio_is_ready(be->h)) {
        nbd_aio_disconnect(be->h, 0);
    }
    nbd_close(be->h);
    pthread_mutex_destroy(&be->lock);
    free(be);
}

const BlkBackendOps blk_nbd_ops = {
    .name = "nbd",
    .open = bn_open,
    .read = bn_read,
    .write = bn_write,
    .flush = bn_flush,
    .discard = bn_discard,
    .write_zeroes = bn_write_zeroes,
    .close = bn_close,
};
