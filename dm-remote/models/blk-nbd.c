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
 * Threads: none.  The connection's socket is watched by the event loop
 * (dm_loop_add_fd), requests go out with libnbd's asynchronous API and
 * their replies come back through its completion callbacks, all on the
 * loop thread, so the handle has a single user and needs no lock, and
 * many commands are on the wire at once.  libnbd calls the callbacks
 * from inside its own calls (with its lock held): they only note the
 * result; the requests' done callbacks run after libnbd has returned.
 * One connection, not several: qemu-nbd serves one client unless told
 * otherwise (--shared), and a FLUSH covers only its own connection's
 * writes unless the server promises multi-conn consistency.  Connecting
 * (at realize) blocks, under the same deadline as commands.
 *
 * A server that goes away: its socket closes, libnbd fails every command
 * in flight and every later one (the handle is dead), and the requests
 * end in IOERR.  A server that stops answering without closing: when
 * commands have waited timeout_s without a word from it, we shut the
 * socket down ourselves, with the same outcome.  Either way the model
 * keeps running; a restart of the model (its --state-file) reconnects.
 *
 * FLUSH on a server that does not offer it (no NBD_FLAG_SEND_FLUSH)
 * succeeds at once, as QEMU's own NBD client does (block/nbd.c,
 * nbd_client_co_flush): such a server writes through.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <libnbd.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "blk-backend.h"

/*
 * DISCARD and WRITE_ZEROES go out in pieces of at most this: QEMU's NBD
 * client keeps zeroes within the server's maximum block size (32 MiB for
 * QEMU's servers), and so do we for both.
 */
#define NBD_RANGE_MAX       (32u << 20)

struct BlkBackend {
    struct nbd_handle *h;
    DmLoop *loop;
    int fd;                     /* watched; -1 once the handle is dead */
    int64_t timeout_ns;
    DmTimer timeout;            /* armed while commands wait */
    DmTimer later;              /* runs the done list */
    unsigned inflight;          /* commands libnbd holds */
    BlkIo *done_head, **done_tail;
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

/* libnbd's error of its last call, as -errno. */
static int bn_err(void)
{
    int e = nbd_get_errno();

    return -(e > 0 ? e : EIO);
}

static void bn_push_done(BlkBackend *be, BlkIo *io)
{
    io->next = NULL;
    *be->done_tail = io;
    be->done_tail = &io->next;
}

/* Run the done callbacks of finished requests (which may submit more). */
static void bn_run_done(BlkBackend *be)
{
    while (be->done_head) {
        BlkIo *io = be->done_head;

        be->done_head = io->next;
        if (!be->done_head) {
            be->done_tail = &be->done_head;
        }
        io->done(io);
    }
}

static void bn_later(void *opaque)
{
    bn_run_done(opaque);
}

/* libnbd's completion callback (its lock held: no nbd_* calls here). */
static int bn_completed(void *opaque, int *error)
{
    BlkIo *io = opaque;

    if (*error && !io->err) {
        io->err = -*error;
    }
    return 1;                   /* retire the command */
}

/* Called once per command, issued or not: the accounting lives here. */
static void bn_freed(void *opaque)
{
    BlkIo *io = opaque;
    BlkBackend *be = io->be;

    be->inflight--;
    if (--io->parts == 0) {
        bn_push_done(be, io);
    }
}

/* After libnbd ran: watch what it waits for, or stop watching a dead
 * handle; keep the deadline while commands wait. */
static void bn_update(BlkBackend *be)
{
    unsigned dir;

    if (be->fd < 0) {
        return;
    }
    if (nbd_aio_is_dead(be->h) || nbd_aio_is_closed(be->h)) {
        dm_warn("virtio-blk: the NBD server is gone: I/O fails from now "
                "on");
        dm_loop_del_fd(be->loop, be->fd);
        be->fd = -1;
        dm_timer_del(&be->timeout);
        return;
    }
    dir = nbd_aio_get_direction(be->h);
    dm_loop_set_events(be->loop, be->fd,
                       (dir & LIBNBD_AIO_DIRECTION_READ ? POLLIN : 0) |
                       (dir & LIBNBD_AIO_DIRECTION_WRITE ? POLLOUT : 0));
    if (!be->inflight) {
        dm_timer_del(&be->timeout);
    } else if (!dm_timer_pending(&be->timeout)) {
        dm_timer_mod(&be->timeout, be->timeout_ns);
    }
}

/* The socket is ready: let libnbd read or write. */
static void bn_io(BlkBackend *be, short revents)
{
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        /* The server speaks (or hung up): a new deadline for the rest. */
        if (be->inflight) {
            dm_timer_mod(&be->timeout, be->timeout_ns);
        }
        nbd_aio_notify_read(be->h);
    }
    if (revents & POLLOUT) {
        nbd_aio_notify_write(be->h);
    }
    bn_update(be);
}

static void bn_ready(void *opaque, int fd, short revents)
{
    BlkBackend *be = opaque;

    bn_io(be, revents);
    bn_run_done(be);
}

/* Commands waited too long: drop the connection, failing them all. */
static void bn_drop(BlkBackend *be)
{
    if (be->fd < 0) {
        return;
    }
    dm_warn("virtio-blk: the NBD server did not answer in %lld s: "
            "dropping the connection",
            (long long)(be->timeout_ns / 1000000000));
    shutdown(be->fd, SHUT_RDWR);
    nbd_aio_notify_read(be->h);     /* sees the end: the handle dies */
    bn_update(be);
}

static void bn_timeout(void *opaque)
{
    BlkBackend *be = opaque;

    bn_drop(be);
    bn_run_done(be);
}

/* Issue one command for @io (a piece of it for ranges). */
static void bn_issue(BlkBackend *be, BlkIo *io, uint64_t off, uint64_t len)
{
    nbd_completion_callback cb = {
        .callback = bn_completed, .user_data = io, .free = bn_freed,
    };
    int64_t cookie = -1;

    io->parts++;
    be->inflight++;
    switch (io->type) {
    case BLK_IO_READ:
        cookie = nbd_aio_pread(be->h, io->buf, len, off, cb, 0);
        break;
    case BLK_IO_WRITE:
        cookie = nbd_aio_pwrite(be->h, io->buf, len, off, cb, 0);
        break;
    case BLK_IO_FLUSH:
        cookie = nbd_aio_flush(be->h, cb, 0);
        break;
    case BLK_IO_DISCARD:
        cookie = nbd_aio_trim(be->h, len, off, cb, 0);
        break;
    case BLK_IO_WRITE_ZEROES:
        /* NBD may deallocate zeroed ranges unless told NO_HOLE. */
        cookie = nbd_aio_zero(be->h, len, off, cb,
                              io->unmap ? 0 : LIBNBD_CMD_FLAG_NO_HOLE);
        break;
    }
    if (cookie < 0 && !io->err) {
        io->err = bn_err();     /* bn_freed has run: accounting done */
    }
}

static int bn_submit(BlkBackend *be, BlkIo *io)
{
    io->be = be;
    io->err = 0;
    io->parts = 1;              /* ours until every piece is issued */
    if (be->fd < 0) {
        io->err = -EIO;
    } else if (io->type == BLK_IO_FLUSH && !be->can_flush) {
        /* Nothing to do: done runs later, with success. */
    } else if (io->type == BLK_IO_DISCARD ||
               io->type == BLK_IO_WRITE_ZEROES) {
        for (uint64_t done = 0; done < io->len && !io->err;
             done += NBD_RANGE_MAX) {
            uint64_t n = io->len - done;

            bn_issue(be, io, io->off + done,
                     n < NBD_RANGE_MAX ? n : NBD_RANGE_MAX);
        }
    } else if (io->len || io->type == BLK_IO_FLUSH) {
        bn_issue(be, io, io->off, io->len);
    }
    if (--io->parts == 0) {
        bn_push_done(be, io);
    }
    bn_update(be);
    if (be->done_head) {
        dm_timer_mod(&be->later, 0);
    }
    return 0;
}

/* Quiesce: run the connection here until nothing is in flight. */
static void bn_drain(BlkBackend *be)
{
    while (be->inflight && be->fd >= 0) {
        unsigned dir = nbd_aio_get_direction(be->h);
        struct pollfd p = {
            .fd = be->fd,
            .events = (dir & LIBNBD_AIO_DIRECTION_READ ? POLLIN : 0) |
                      (dir & LIBNBD_AIO_DIRECTION_WRITE ? POLLOUT : 0),
        };
        int64_t left = be->timeout.deadline_ns - dm_clock_ns();

        if (!dm_timer_pending(&be->timeout) || left <= 0) {
            bn_drop(be);
            break;
        }
        if (poll(&p, 1, left / 1000000 + 1) > 0) {
            bn_io(be, p.revents);
        }
        bn_run_done(be);
    }
    bn_run_done(be);
}

static int bn_open(DmDevice *dev, const char *uri,
                   const BlkBackendOpts *opts, BlkBackend **ret,
                   BlkBackendInfo *info)
{
    BlkBackend *be = calloc(1, sizeof(*be));
    int64_t end, size;
    int err = -EIO;

    if (!be) {
        return -ENOMEM;
    }
    be->loop = dm_device_loop(dev);
    be->fd = -1;
    be->timeout_ns = (int64_t)opts->timeout_s * 1000000000;
    be->done_tail = &be->done_head;
    dm_timer_init(&be->timeout, be->loop, bn_timeout, be);
    dm_timer_init(&be->later, be->loop, bn_later, be);
    end = dm_clock_ns() + be->timeout_ns;
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
    if (nbd_aio_connect_uri(be->h, uri) < 0) {
        goto fail_nbd;
    }
    while (nbd_aio_is_connecting(be->h)) {
        int64_t left = end - dm_clock_ns();

        if (left <= 0) {
            dm_error("virtio-blk: %s did not answer in %u s", uri,
                     opts->timeout_s);
            err = -ETIMEDOUT;
            goto fail;
        }
        if (nbd_poll(be->h, left / 1000000 + 1) < 0) {
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
        .readonly = opts->readonly || nbd_is_read_only(be->h) == 1,
        .can_discard = nbd_can_trim(be->h) == 1,
        .can_write_zeroes = nbd_can_zero(be->h) == 1,
    };
    be->fd = nbd_aio_get_fd(be->h);
    if (be->fd < 0 || dm_loop_add_fd(be->loop, be->fd, POLLIN, bn_ready,
                                     be) < 0) {
        dm_error("virtio-blk: cannot watch the NBD connection");
        be->fd = -1;
        goto fail;
    }
    bn_update(be);
    *ret = be;
    return 0;

fail_nbd:
    err = bn_err();
    dm_error("virtio-blk: %s: %s", uri, nbd_get_error());
fail:
    nbd_close(be->h);           /* NULL is fine */
    free(be);
    return err;
}

static void bn_close(BlkBackend *be)
{
    dm_timer_del(&be->timeout);
    dm_timer_del(&be->later);
    if (be->fd >= 0) {
        dm_loop_del_fd(be->loop, be->fd);
        /* A polite NBD_CMD_DISC, without waiting for the server. */
        nbd_aio_disconnect(be->h, 0);
    }
    nbd_close(be->h);
    free(be);
}

const BlkBackendOps blk_nbd_ops = {
    .name = "nbd",
    .open = bn_open,
    .submit = bn_submit,
    .drain = bn_drain,
    .close = bn_close,
};
