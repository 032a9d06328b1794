/*
 * virtio-blk's raw back end: a file or a block device on the server.
 * Each request runs on one of the model API's worker threads (pread and
 * pwrite are safe from several at once on one descriptor), its done on
 * the loop; the framework drains them when it quiesces the device.
 * Flush is fdatasync(), discard punches a hole.  The image is locked (an
 * OFD lock: a write lock, or a read lock when read-only), so two models
 * never write one image.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "blk-backend.h"

struct BlkBackend {
    DmDevice *dev;
    int fd;
};

static int file_open(DmDevice *dev, const char *file,
                     const BlkBackendOpts *opts, BlkBackend **ret,
                     BlkBackendInfo *info)
{
    bool readonly = opts->readonly;
    struct flock lock = {
        .l_type = readonly ? F_RDLCK : F_WRLCK,
        .l_whence = SEEK_SET,
    };
    struct stat st;
    uint64_t bytes;
    int fd, err;

    fd = open(file, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
        err = -errno;
        dm_error("virtio-blk: cannot open %s: %m", file);
        return err;
    }
    if (fcntl(fd, F_OFD_SETLK, &lock) < 0) {
        dm_error("virtio-blk: %s is in use by another process (%m)", file);
        err = -EBUSY;
        goto fail;
    }
    if (fstat(fd, &st) < 0) {
        err = -errno;
        goto fail;
    }
    if (S_ISBLK(st.st_mode)) {
        if (ioctl(fd, BLKGETSIZE64, &bytes) < 0) {
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
    *ret = calloc(1, sizeof(**ret));
    if (!*ret) {
        err = -ENOMEM;
        goto fail;
    }
    (*ret)->dev = dev;
    (*ret)->fd = fd;
    *info = (BlkBackendInfo) {
        .size = bytes,
        .readonly = readonly,
        .can_discard = true,
        .can_write_zeroes = true,
    };
    return 0;

fail:
    close(fd);                  /* the lock goes with it */
    return err;
}

static int file_read(BlkBackend *be, void *buf, uint64_t len, uint64_t off)
{
    uint64_t done = 0;

    while (done < len) {
        ssize_t n = pread(be->fd, (uint8_t *)buf + done, len - done,
                          off + done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        if (n == 0) {           /* a file shorter than its capacity */
            memset((uint8_t *)buf + done, 0, len - done);
            break;
        }
        done += n;
    }
    return 0;
}

static int file_write(BlkBackend *be, const void *buf, uint64_t len,
                      uint64_t off)
{
    uint64_t done = 0;

    while (done < len) {
        ssize_t n = pwrite(be->fd, (const uint8_t *)buf + done, len - done,
                           off + done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? -errno : -EIO;
        }
        done += n;
    }
    return 0;
}

static int file_flush(BlkBackend *be)
{
    return fdatasync(be->fd) < 0 ? -errno : 0;
}

static int file_discard(BlkBackend *be, uint64_t off, uint64_t len)
{
    return fallocate(be->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                     off, len) < 0 ? -errno : 0;
}

static int file_write_zeroes(BlkBackend *be, uint64_t off, uint64_t len,
                             bool unmap)
{
    return fallocate(be->fd, (unmap ? FALLOC_FL_PUNCH_HOLE
                                    : FALLOC_FL_ZERO_RANGE) |
                     FALLOC_FL_KEEP_SIZE, off, len) < 0 ? -errno : 0;
}

/* On a worker thread. */
static void file_run(DmWork *w)
{
    BlkIo *io = w->opaque;
    BlkBackend *be = io->be;

    switch (io->type) {
    case BLK_IO_READ:
        io->err = file_read(be, io->buf, io->len, io->off);
        return;
    case BLK_IO_WRITE:
        io->err = file_write(be, io->buf, io->len, io->off);
        return;
    case BLK_IO_FLUSH:
        io->err = file_flush(be);
        return;
    case BLK_IO_DISCARD:
        io->err = file_discard(be, io->off, io->len);
        return;
    case BLK_IO_WRITE_ZEROES:
        io->err = file_write_zeroes(be, io->off, io->len, io->unmap);
        return;
    }
    io->err = -EINVAL;
}

static void file_done(DmWork *w)
{
    BlkIo *io = w->opaque;

    io->done(io);
}

static int file_submit(BlkBackend *be, BlkIo *io)
{
    io->be = be;
    io->err = 0;
    return dm_work_submit(be->dev, &io->work, file_run, file_done, io);
}

static void file_close(BlkBackend *be)
{
    close(be->fd);              /* the lock goes with it */
    free(be);
}

const BlkBackendOps blk_file_ops = {
    .name = "file",
    .open = file_open,
    .submit = file_submit,
    .close = file_close,
};
