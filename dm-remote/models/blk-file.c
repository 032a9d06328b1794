/*
 * virtio-blk's raw back end: a file or a block device on the server.
 *
 * Requests go to an io_uring on the event loop: the ring's eventfd is
 * watched by the loop, every completion it finds is reaped at once and
 * its done runs there.  Between plug and unplug (virtio-blk plugs while
 * it takes a kick's chains) submissions only fill the ring, and unplug
 * hands them all to the kernel in one io_uring_enter.  Where io_uring is
 * not allowed (an old kernel, sysctl kernel.io_uring_disabled, seccomp),
 * or when DM_BLK_IO=threads is in the environment (the tests run both
 * paths), each request runs on one of the model API's worker threads
 * instead (preadv/pwritev are safe from several at once on one
 * descriptor).  Either way the device's quiesce waits for them all.
 *
 * Reads and writes take an iovec (guest memory itself when it is
 * shared: zero-copy) or a buffer.  Flush is fdatasync(), discard punches
 * a hole.  The image is locked (an OFD lock: a write lock, or a read lock
 * when read-only), so two models never write one image.  The lock is on
 * the descriptor the requests use, so it goes only when the last of them
 * has: a model killed with requests on its io_uring keeps it a little
 * after the process is gone (the kernel drops the ring's references to
 * the file from a worker of its own).  A model started again at once
 * waits for it (lock_wait_s) rather than failing, and never runs beside
 * what its predecessor left in flight.
 *
 * A small buffered write (inline_writes, cache=writeback: up to 64 KiB)
 * is not given to io_uring but written at once with pwritev, on the loop
 * or the I/O thread that submits it: ext4 cannot take a buffered write
 * without blocking, so io_uring hands each one to a kernel worker (27 us
 * a 4 KiB write here, against 5 us for pwritev).  Its done still runs
 * later (unplug, or the eventfd's next look).  A write that took more
 * than opts->inline_slow_ns (the kernel throttling dirty pages, a slow file
 * system) sends the next second's writes through io_uring again, so that
 * the loop is not held behind a stall twice.
 *
 * cache=none (opts->direct) opens the image with O_DIRECT.  What must be
 * aligned, and to what: for a block device, its logical block size
 * (BLKSSZGET), for offsets, lengths and buffer addresses; for a file,
 * what the kernel says for it (statx STATX_DIOALIGN: offsets and
 * lengths to dio_offset_align, buffers to dio_mem_align), or 4096 for
 * both where it says nothing.  A request whose buffers are not aligned
 * goes through an aligned copy (posix_memalign); one whose offset or
 * length is not (a 512-byte sector of a 4 KiB-sector disk) goes through
 * a second descriptor without O_DIRECT, where the kernel reads around it
 * (and direct I/O on the first stays coherent with it: the kernel writes
 * back and drops cached pages in a direct request's range).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "blk-backend.h"

/* Requests with the kernel at once; more wait in the backlog. */
#define RING_ENTRIES 256

/* inline_writes: the largest write done at once; slower: a second off. */
#define INLINE_MAX      (64 * 1024)
#define INLINE_OFF_NS   1000000000

struct BlkBackend {
    DmDevice *dev;
    /* A clone for an I/O thread: the parent's descriptors, a ring of its own */
    bool clone;
    int fd;
    /* cache=none */
    bool direct;
    int cached_fd;              /* without O_DIRECT, for unaligned ranges */
    uint32_t off_align, mem_align;
    /* io_uring: off when setting it up failed (worker threads then) */
    bool uring;
    struct io_uring ring;
    int efd;                    /* the ring's completions, watched */
    unsigned plugged;
    unsigned inflight;          /* with the kernel */
    BlkIo *backlog, **backlog_tail;
    /* inline_writes: on; off until then (a slow one); written, not done */
    bool inline_writes;
    int64_t inline_slow_ns;
    int64_t inline_off_until;
    BlkIo *written, **written_tail;
};

/* ---- iovecs ---- */

static void iov_advance(struct iovec **iov, unsigned *cnt, size_t n)
{
    while (n && *cnt) {
        size_t k = n < (*iov)->iov_len ? n : (*iov)->iov_len;

        (*iov)->iov_base = (uint8_t *)(*iov)->iov_base + k;
        (*iov)->iov_len -= k;
        n -= k;
        if (!(*iov)->iov_len) {
            (*iov)++;
            (*cnt)--;
        }
    }
}

static void iov_zero(const struct iovec *iov, unsigned cnt)
{
    for (unsigned i = 0; i < cnt; i++) {
        memset(iov[i].iov_base, 0, iov[i].iov_len);
    }
}

/* Between @iov and the flat @buf of @len bytes. */
static void iov_copy(const struct iovec *iov, unsigned cnt, uint8_t *buf,
                     uint64_t len, bool to_iov)
{
    for (unsigned i = 0; i < cnt && len; i++) {
        size_t n = iov[i].iov_len < len ? iov[i].iov_len : len;

        if (to_iov) {
            memcpy(iov[i].iov_base, buf, n);
        } else {
            memcpy(buf, iov[i].iov_base, n);
        }
        buf += n;
        len -= n;
    }
}

static bool iov_aligned(const struct iovec *iov, unsigned cnt,
                        uint32_t mem_align, uint32_t len_align)
{
    for (unsigned i = 0; i < cnt; i++) {
        if ((uintptr_t)iov[i].iov_base % mem_align ||
            iov[i].iov_len % len_align) {
            return false;
        }
    }
    return true;
}

/* ---- Open ---- */

/* cache=none: what direct I/O needs aligned (the rule above). */
static void direct_alignment(BlkBackend *be, const char *file, bool blkdev)
{
    struct statx stx;
    int lbs;

    be->off_align = be->mem_align = 4096;
    if (blkdev) {
        if (ioctl(be->fd, BLKSSZGET, &lbs) == 0 && lbs > 0) {
            be->off_align = be->mem_align = lbs;
        }
    } else if (statx(be->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
               (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align &&
               stx.stx_dio_mem_align) {
        be->off_align = stx.stx_dio_offset_align;
        be->mem_align = stx.stx_dio_mem_align;
    }
    dm_debug("virtio-blk: %s: O_DIRECT, offsets aligned to %u, buffers to %u",
             file, be->off_align, be->mem_align);
}

static void uring_ready(void *opaque, int fd, short revents);

/*
 * The ring, or false (worker threads) with one line saying why; its
 * eventfd watched by the loop unless @watch is false (a clone's).
 */
static bool uring_init(BlkBackend *be, bool watch)
{
    static const int ops[] = {
        IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC,
        IORING_OP_FALLOCATE,
    };
    const char *env = getenv("DM_BLK_IO");
    struct io_uring_probe *probe;
    int ret;

    if (env && !strcmp(env, "threads")) {
        if (watch) {
            dm_info("virtio-blk: worker threads, not io_uring (DM_BLK_IO)");
        }
        return false;
    }
    ret = io_uring_queue_init(RING_ENTRIES, &be->ring, 0);
    if (ret < 0) {
        dm_warn("virtio-blk: io_uring unavailable (%s): worker threads",
                strerror(-ret));
        return false;
    }
    probe = io_uring_get_probe_ring(&be->ring);
    for (size_t i = 0; probe && i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (!io_uring_opcode_supported(probe, ops[i])) {
            io_uring_free_probe(probe);
            probe = NULL;
        }
    }
    if (!probe) {
        dm_warn("virtio-blk: io_uring lacks an operation: worker threads");
        goto fail;
    }
    io_uring_free_probe(probe);
    be->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (be->efd < 0 || io_uring_register_eventfd(&be->ring, be->efd) < 0 ||
        (watch && dm_loop_add_fd(dm_device_loop(be->dev), be->efd, POLLIN,
                                 uring_ready, be) < 0)) {
        dm_warn("virtio-blk: io_uring's eventfd: %m: worker threads");
        if (be->efd >= 0) {
            close(be->efd);
        }
        goto fail;
    }
    be->backlog_tail = &be->backlog;
    return true;

fail:
    io_uring_queue_exit(&be->ring);
    return false;
}

/* Between two tries of a lock another process holds. */
#define LOCK_RETRY_US   10000

/*
 * Lock @fd's image (@lock), waiting up to @wait_s for a holder to let
 * go (see the top of the file): 0, -EBUSY when it did not, or -errno.
 */
static int lock_image(int fd, const char *file, struct flock *lock,
                      unsigned wait_s)
{
    int64_t start = dm_clock_ns();
    int64_t deadline = start + (int64_t)wait_s * 1000000000;
    bool told = false;

    for (;;) {
        if (fcntl(fd, F_OFD_SETLK, lock) == 0) {
            if (told) {
                dm_info("virtio-blk: %s locked after %lld ms", file,
                        (long long)(dm_clock_ns() - start) / 1000000);
            }
            return 0;
        }
        if (errno != EAGAIN && errno != EACCES) {
            dm_error("virtio-blk: cannot lock %s: %m", file);
            return -errno;
        }
        if (dm_clock_ns() >= deadline) {
            dm_error("virtio-blk: %s is in use by another process "
                     "(its lock held%s)", file,
                     wait_s ? " after the wait" : "");
            return -EBUSY;
        }
        if (!told) {
            /* Rare, and what a slow start waits for: always logged. */
            dm_warn("virtio-blk: %s is locked by another process: waiting "
                    "up to %u s for its lock (a model killed just now "
                    "keeps it until the kernel is done with its requests)",
                    file, wait_s);
            told = true;
        }
        usleep(LOCK_RETRY_US);
    }
}

static int file_open(DmDevice *dev, const char *file,
                     const BlkBackendOpts *opts, BlkBackend **ret,
                     BlkBackendInfo *info)
{
    bool readonly = opts->readonly;
    int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    struct flock lock = {
        .l_type = readonly ? F_RDLCK : F_WRLCK,
        .l_whence = SEEK_SET,
    };
    BlkBackend *be;
    struct stat st;
    uint64_t bytes;
    int err;

    be = calloc(1, sizeof(*be));
    if (!be) {
        return -ENOMEM;
    }
    be->dev = dev;
    be->cached_fd = -1;
    be->efd = -1;
    be->inline_writes = opts->inline_writes;
    be->inline_slow_ns = opts->inline_slow_ns;
    be->written_tail = &be->written;
    be->fd = open(file, flags | (opts->direct ? O_DIRECT : 0));
    if (be->fd < 0) {
        err = -errno;
        dm_error("virtio-blk: cannot open %s%s: %m", file,
                 opts->direct ? " with O_DIRECT (cache=none)" : "");
        free(be);
        return err;
    }
    err = lock_image(be->fd, file, &lock, opts->lock_wait_s);
    if (err < 0) {
        goto fail;
    }
    if (fstat(be->fd, &st) < 0) {
        err = -errno;
        goto fail;
    }
    if (S_ISBLK(st.st_mode)) {
        if (ioctl(be->fd, BLKGETSIZE64, &bytes) < 0) {
            err = -errno;
            goto fail;
        }
    } else if (S_ISREG(st.st_mode)) {
        bytes = st.st_size;
    } else {
        dm_error("virtio-blk: %s is not a file or a block device", file);
        err = -EINVAL;
        goto fail;
    }
    if (opts->direct) {
        be->direct = true;
        direct_alignment(be, file, S_ISBLK(st.st_mode));
        be->cached_fd = open(file, flags);
        if (be->cached_fd < 0) {
            err = -errno;
            dm_error("virtio-blk: cannot open %s: %m", file);
            goto fail;
        }
    }
    be->uring = uring_init(be, true);
    *ret = be;
    *info = (BlkBackendInfo) {
        .size = bytes,
        .readonly = readonly,
        .can_discard = true,
        .can_write_zeroes = true,
        .can_iov = true,
    };
    return 0;

fail:
    close(be->fd);              /* the lock goes with it */
    if (be->cached_fd >= 0) {
        close(be->cached_fd);
    }
    free(be);
    return err;
}

/* ---- Requests, either path ---- */

static int io_fd(BlkBackend *be, BlkIo *io)
{
    return io->buffered ? be->cached_fd : be->fd;
}

/*
 * Set @io up: its data as an iovec to transfer (xiov), through an
 * aligned copy or the cached descriptor when O_DIRECT cannot take it.
 */
static int io_prepare(BlkBackend *be, BlkIo *io)
{
    io->be = be;
    io->err = 0;
    io->done_bytes = 0;
    io->bounce_mem = NULL;
    io->buffered = false;
    if (io->type != BLK_IO_READ && io->type != BLK_IO_WRITE) {
        return 0;
    }
    if (!io->iovcnt) {
        io->one = (struct iovec) { io->buf, io->len };
        io->iov = &io->one;
        io->iovcnt = 1;
    }
    io->xiov = io->iov;
    io->xcnt = io->iovcnt;
    if (!be->direct) {
        return 0;
    }
    if ((io->off | io->len) % be->off_align) {
        io->buffered = true;
    } else if (!iov_aligned(io->iov, io->iovcnt, be->mem_align,
                            be->off_align)) {
        if (posix_memalign(&io->bounce_mem, be->mem_align, io->len)) {
            return -ENOMEM;
        }
        if (io->type == BLK_IO_WRITE) {
            iov_copy(io->iov, io->iovcnt, io->bounce_mem, io->len, false);
        }
        io->bounce = (struct iovec) { io->bounce_mem, io->len };
        io->xiov = &io->bounce;
        io->xcnt = 1;
    }
    return 0;
}

/* On the loop, once the transfer is over: copy back, then done. */
static void io_finish(BlkIo *io)
{
    if (io->bounce_mem) {
        if (io->type == BLK_IO_READ && !io->err) {
            iov_copy(io->iov, io->iovcnt, io->bounce_mem, io->len, true);
        }
        free(io->bounce_mem);
        io->bounce_mem = NULL;
    }
    io->done(io);
}

static int discard_mode(const BlkIo *io)
{
    if (io->type == BLK_IO_DISCARD || io->unmap) {
        return FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
    }
    return FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
}

/* ---- Worker threads ---- */

/* All of xiov at off: 0 or -errno (a read past the end reads zeros). */
static int file_rw(int fd, BlkIo *io, bool write)
{
    while (io->done_bytes < io->len && io->xcnt) {
        unsigned cnt = io->xcnt < IOV_MAX ? io->xcnt : IOV_MAX;
        ssize_t n = write ? pwritev(fd, io->xiov, cnt,
                                    io->off + io->done_bytes)
                          : preadv(fd, io->xiov, cnt,
                                   io->off + io->done_bytes);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        if (n == 0) {
            if (write) {
                return -EIO;
            }
            iov_zero(io->xiov, io->xcnt);   /* shorter than its capacity */
            return 0;
        }
        io->done_bytes += n;
        iov_advance(&io->xiov, &io->xcnt, n);
    }
    return 0;
}

/* On a worker thread. */
static void file_run(DmWork *w)
{
    BlkIo *io = w->opaque;
    BlkBackend *be = io->be;
    int fd = io_fd(be, io);

    switch (io->type) {
    case BLK_IO_READ:
    case BLK_IO_WRITE:
        io->err = file_rw(fd, io, io->type == BLK_IO_WRITE);
        return;
    case BLK_IO_FLUSH:
        io->err = fdatasync(fd) < 0 ? -errno : 0;
        return;
    case BLK_IO_DISCARD:
    case BLK_IO_WRITE_ZEROES:
        io->err = fallocate(fd, discard_mode(io), io->off, io->len) < 0 ?
                  -errno : 0;
        return;
    }
    io->err = -EINVAL;
}

static void file_done(DmWork *w)
{
    io_finish(w->opaque);
}

/* ---- io_uring ---- */

/* Hand the ring's new entries to the kernel, unless plugged. */
static void uring_flush(BlkBackend *be)
{
    int ret;

    if (be->plugged || !io_uring_sq_ready(&be->ring)) {
        return;
    }
    ret = io_uring_submit(&be->ring);
    if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
        /* They stay in the ring: the next submission or drain retries. */
        dm_warn("virtio-blk: io_uring_submit: %s", strerror(-ret));
    }
}

/* Put (the rest of) @io in the ring: there is room below RING_ENTRIES. */
static void uring_prep(BlkBackend *be, BlkIo *io)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&be->ring);
    int fd = io_fd(be, io);

    if (!sqe) {                 /* not with inflight < RING_ENTRIES */
        io_uring_submit(&be->ring);
        sqe = io_uring_get_sqe(&be->ring);
    }
    switch (io->type) {
    case BLK_IO_READ:
        io_uring_prep_readv(sqe, fd, io->xiov, io->xcnt,
                            io->off + io->done_bytes);
        break;
    case BLK_IO_WRITE:
        io_uring_prep_writev(sqe, fd, io->xiov, io->xcnt,
                             io->off + io->done_bytes);
        break;
    case BLK_IO_FLUSH:
        io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
        break;
    case BLK_IO_DISCARD:
    case BLK_IO_WRITE_ZEROES:
        io_uring_prep_fallocate(sqe, fd, discard_mode(io), io->off, io->len);
        break;
    }
    io_uring_sqe_set_data(sqe, io);
    be->inflight++;
}

/* Into the ring, or the backlog when the ring is full (order kept). */
static void uring_start(BlkBackend *be, BlkIo *io)
{
    if (be->backlog || be->inflight >= RING_ENTRIES) {
        io->next = NULL;
        *be->backlog_tail = io;
        be->backlog_tail = &io->next;
        return;
    }
    uring_prep(be, io);
}

/* @io's completion with @res: done, or the rest of a short transfer. */
static void uring_result(BlkBackend *be, BlkIo *io, int res)
{
    bool rw = io->type == BLK_IO_READ || io->type == BLK_IO_WRITE;

    if (res == -EINTR || res == -EAGAIN) {
        uring_start(be, io);
        return;
    }
    if (res < 0) {
        io->err = res;
    } else if (rw && res == 0 && io->done_bytes < io->len) {
        if (io->type == BLK_IO_WRITE) {
            io->err = -EIO;
        } else {
            iov_zero(io->xiov, io->xcnt);   /* shorter than its capacity */
        }
    } else if (rw && io->done_bytes + res < io->len) {
        io->done_bytes += res;
        iov_advance(&io->xiov, &io->xcnt, res);
        uring_start(be, io);
        return;
    }
    io_finish(io);
}

/* The writes done at once, then their done (which may submit more). */
static void inline_finish(BlkBackend *be)
{
    BlkIo *io = be->written;

    be->written = NULL;
    be->written_tail = &be->written;
    while (io) {
        BlkIo *next = io->next;

        io_finish(io);
        io = next;
    }
}

/* A buffered write small enough, unless a slow one turned them off. */
static bool inline_wanted(BlkBackend *be, const BlkIo *io)
{
    return be->inline_writes && io->type == BLK_IO_WRITE &&
           io->len <= INLINE_MAX && !be->direct &&
           (!be->inline_off_until || dm_clock_ns() >= be->inline_off_until);
}

/* Write @io now; its done runs at unplug or at the eventfd's next look. */
static void inline_write(BlkBackend *be, BlkIo *io)
{
    int64_t start = dm_clock_ns(), took;

    io->err = file_rw(io_fd(be, io), io, true);
    took = dm_clock_ns() - start;
    be->inline_off_until = 0;
    if (took > be->inline_slow_ns) {
        be->inline_off_until = start + took + INLINE_OFF_NS;
        dm_debug("virtio-blk: a write took %lld us: io_uring for a second",
                 (long long)(took / 1000));
    }
    io->next = NULL;
    *be->written_tail = io;
    be->written_tail = &io->next;
    if (!be->plugged &&
        write(be->efd, &(uint64_t){ 1 }, sizeof(uint64_t)) < 0) {
        dm_warn("virtio-blk: io_uring's eventfd: %m");
    }
}

/* Every completion there is: run its done (which may submit more). */
static void uring_reap(BlkBackend *be)
{
    struct io_uring_cqe *cqe;

    inline_finish(be);

    while (io_uring_peek_cqe(&be->ring, &cqe) == 0) {
        BlkIo *io = io_uring_cqe_get_data(cqe);
        int res = cqe->res;

        io_uring_cqe_seen(&be->ring, cqe);
        be->inflight--;
        while (be->backlog && be->inflight < RING_ENTRIES) {
            BlkIo *next = be->backlog;

            be->backlog = next->next;
            if (!be->backlog) {
                be->backlog_tail = &be->backlog;
            }
            uring_prep(be, next);
        }
        uring_result(be, io, res);
    }
    uring_flush(be);
}

static void uring_ready(void *opaque, int fd, short revents)
{
    BlkBackend *be = opaque;
    uint64_t n;

    if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN) {
        dm_warn("virtio-blk: io_uring's eventfd: %m");
    }
    uring_reap(be);
}

/* ---- The interface ---- */

static int file_submit(BlkBackend *be, BlkIo *io)
{
    int ret = io_prepare(be, io);

    if (ret < 0) {
        return ret;
    }
    if (!be->uring) {
        ret = dm_work_submit(be->dev, &io->work, file_run, file_done, io);
        if (ret < 0) {
            free(io->bounce_mem);
        }
        return ret;
    }
    if (inline_wanted(be, io)) {
        inline_write(be, io);
        return 0;
    }
    uring_start(be, io);
    uring_flush(be);
    return 0;
}

static void file_plug(BlkBackend *be)
{
    be->plugged++;
}

/*
 * Submit the batch, and complete at once what the kernel finished inside
 * io_uring_enter (a read from the page cache): waiting for the eventfd
 * would wait for the server's spin on the client's socket to end first.
 */
static void file_unplug(BlkBackend *be)
{
    if (be->plugged && !--be->plugged && be->uring) {
        uring_flush(be);
        uring_reap(be);
    }
}

/* The ring's requests (the framework drains the worker threads). */
static void file_drain(BlkBackend *be)
{
    while (be->uring && (be->inflight || be->backlog || be->written)) {
        int ret;

        if (!be->inflight && !be->backlog) {
            inline_finish(be);  /* their done may submit more */
            continue;
        }
        ret = io_uring_submit_and_wait(&be->ring, 1);

        if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
            dm_error("virtio-blk: io_uring: %s while draining",
                     strerror(-ret));
            abort();            /* guest memory is about to go */
        }
        uring_reap(be);
    }
}

static void file_close(BlkBackend *be)
{
    if (be->uring) {
        file_drain(be);
        if (!be->clone) {
            dm_loop_del_fd(dm_device_loop(be->dev), be->efd);
        }
        io_uring_queue_exit(&be->ring);
        close(be->efd);
    }
    if (be->clone) {
        free(be);               /* the descriptors are the parent's */
        return;
    }
    if (be->cached_fd >= 0) {
        close(be->cached_fd);
    }
    close(be->fd);              /* the lock goes with it */
    free(be);
}

/* A ring of its own on the parent's descriptors, for an I/O thread. */
static BlkBackend *file_clone(BlkBackend *parent)
{
    BlkBackend *be;

    if (!parent->uring) {
        return NULL;            /* worker threads complete on the loop */
    }
    be = calloc(1, sizeof(*be));
    if (!be) {
        return NULL;
    }
    *be = (BlkBackend) {
        .dev = parent->dev,
        .clone = true,
        .fd = parent->fd,
        .direct = parent->direct,
        .cached_fd = parent->cached_fd,
        .off_align = parent->off_align,
        .mem_align = parent->mem_align,
        .efd = -1,
        .inline_writes = parent->inline_writes,
        .inline_slow_ns = parent->inline_slow_ns,
    };
    be->written_tail = &be->written;
    be->uring = uring_init(be, false);
    if (!be->uring) {
        free(be);
        return NULL;
    }
    return be;
}

static int file_event_fd(BlkBackend *be)
{
    return be->efd;
}

/* The I/O thread saw the eventfd: read it, then every completion. */
static void file_reap(BlkBackend *be)
{
    uring_ready(be, be->efd, POLLIN);
}

const BlkBackendOps blk_file_ops = {
    .clone = file_clone,
    .event_fd = file_event_fd,
    .reap = file_reap,
    .name = "file",
    .open = file_open,
    .submit = file_submit,
    .plug = file_plug,
    .unplug = file_unplug,
    .drain = file_drain,
    .close = file_close,
};
