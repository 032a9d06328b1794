/*
 * Saved state: the model's fields, and the file around them.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device.h"
#include "log.h"
#include "state.h"

/* The most a model may save: far above edu's 4 KiB or a UART's FIFO. */
#define DM_STATE_MAX (16u << 20)

static const char dm_state_magic[8] = "DMSTATE1";

void dm_state_put(DmStateOut *o, const void *p, size_t len)
{
    if (o->failed) {
        return;
    }
    if (o->len + len > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        uint8_t *b;

        while (cap < o->len + len) {
            cap *= 2;
        }
        b = cap <= DM_STATE_MAX ? realloc(o->buf, cap) : NULL;
        if (!b) {
            o->failed = true;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, p, len);
    o->len += len;
}

void dm_state_put_u64(DmStateOut *o, uint64_t v)
{
    uint8_t le[8];

    for (int i = 0; i < 8; i++) {
        le[i] = v >> (8 * i);
    }
    dm_state_put(o, le, sizeof(le));
}

void dm_state_get(DmStateIn *in, void *p, size_t len)
{
    if (in->failed || len > in->len - in->pos) {
        in->failed = true;
        memset(p, 0, len);
        return;
    }
    memcpy(p, in->buf + in->pos, len);
    in->pos += len;
}

uint64_t dm_state_get_u64(DmStateIn *in)
{
    uint8_t le[8];
    uint64_t v = 0;

    dm_state_get(in, le, sizeof(le));
    for (int i = 0; i < 8; i++) {
        v |= (uint64_t)le[i] << (8 * i);
    }
    return v;
}

void dm_state_fail(DmStateIn *in)
{
    in->failed = true;
}

bool dm_state_ok(const DmStateIn *in)
{
    return !in->failed;
}

/* A set-up write that waits (dm_device_state_changed): dropped. */
static void dm_device_state_cancel(DmDevice *dev)
{
    if (dm_timer_pending(&dev->state_timer)) {
        dm_timer_del(&dev->state_timer);
    }
}

/* ---- The file ---- */

/*
 * magic, u64 model state version, u64 name length, name, u64 payload
 * length, payload.  Written to PATH.tmp and renamed: a crash mid-write
 * leaves the old file.
 */
int dm_device_save_file(DmDevice *dev, const char *path, char *err,
                        size_t errlen)
{
    if (!dev->model->save) {
        snprintf(err, errlen, "model %s has no state to save",
                 dev->model->name);
        return -ENOTSUP;
    }
    dm_device_quiesce(dev);
    dm_device_state_cancel(dev);        /* this save has it all */
    return dm_device_write_state(dev, path, err, errlen);
}

int dm_device_write_state(DmDevice *dev, const char *path, char *err,
                          size_t errlen)
{
    const DmModel *m = dev->model;
    DmStateOut o = { 0 }, payload = { 0 };
    char *tmp = NULL;
    int fd = -1, ret = -EIO;

    m->save(dev, &payload);
    dm_state_put(&o, dm_state_magic, sizeof(dm_state_magic));
    dm_state_put_u64(&o, m->state_version);
    dm_state_put_u64(&o, strlen(m->name));
    dm_state_put(&o, m->name, strlen(m->name));
    dm_state_put_u64(&o, payload.len);
    dm_state_put(&o, payload.buf, payload.len);
    if (o.failed || payload.failed) {
        snprintf(err, errlen, "state of %s too big", m->name);
        ret = -ENOMEM;
        goto out;
    }
    if (asprintf(&tmp, "%s.tmp", path) < 0) {
        tmp = NULL;
        ret = -ENOMEM;
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, o.buf, o.len) != (ssize_t)o.len ||
        fsync(fd) < 0 || rename(tmp, path) < 0) {
        ret = -errno;
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (dev->args && dev->args->state_file &&
        !strcmp(path, dev->args->state_file)) {
        dm_applied_kept(&dev->applied);     /* a restart finds it all */
    }
    ret = 0;
out:
    if (fd >= 0) {
        close(fd);
    }
    free(tmp);
    free(o.buf);
    free(payload.buf);
    return ret;
}

int dm_device_load_file(DmDevice *dev, const char *path, char *err,
                        size_t errlen)
{
    const DmModel *m = dev->model;
    char magic[8], name[64] = "";
    uint64_t version, name_len, len;
    DmStateIn in = { 0 };
    struct stat st;
    uint8_t *buf = NULL;
    int fd, ret = -EINVAL;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -errno;
    }
    if (fstat(fd, &st) < 0 || st.st_size > DM_STATE_MAX + 1024) {
        snprintf(err, errlen, "%s: not a state file (too big)", path);
        goto out;
    }
    buf = malloc(st.st_size ? st.st_size : 1);
    if (!buf || read(fd, buf, st.st_size) != st.st_size) {
        snprintf(err, errlen, "cannot read %s", path);
        ret = -EIO;
        goto out;
    }
    in = (DmStateIn) { .buf = buf, .len = st.st_size };
    dm_state_get(&in, magic, sizeof(magic));
    version = dm_state_get_u64(&in);
    name_len = dm_state_get_u64(&in);
    if (!dm_state_ok(&in) || memcmp(magic, dm_state_magic, 8) ||
        name_len >= sizeof(name)) {
        snprintf(err, errlen, "%s: not a state file", path);
        goto out;
    }
    dm_state_get(&in, name, name_len);
    len = dm_state_get_u64(&in);
    if (!dm_state_ok(&in) || strcmp(name, m->name) != 0) {
        snprintf(err, errlen, "%s: the state of model '%s', not of '%s'",
                 path, name, m->name);
        goto out;
    }
    if (len != in.len - in.pos) {
        snprintf(err, errlen, "%s: truncated", path);
        goto out;
    }
    if (!m->load || version > m->state_version) {
        snprintf(err, errlen, "%s: state version %llu of %s is newer than "
                 "this model's (%u)", path, (unsigned long long)version,
                 m->name, m->state_version);
        goto out;
    }
    dm_device_quiesce(dev);
    m->load(dev, &in, version);
    if (!dm_state_ok(&in) || in.pos != in.len) {
        snprintf(err, errlen, "%s: the model refused its content", path);
        dm_device_reset(dev);   /* no half-loaded device */
        goto out;
    }
    ret = 0;
out:
    close(fd);
    free(buf);
    return ret;
}

/*
 * A token bucket: a driver's set-up (a virtio device's status, features
 * and queues, a few dozen changes at most) is written change by change,
 * at once; past DM_STATE_BURST writes, one a DM_STATE_GAP_NS.
 */
#define DM_STATE_BURST  64
#define DM_STATE_GAP_NS (100 * 1000 * 1000LL)

/* dm_device_state_changed's write, now. */
static void state_write_setup(DmDevice *dev)
{
    char err[256];

    dev->state_writes++;
    dev->saving_setup = true;
    /* No quiesce: a driver's set-up must not wait for the disk. */
    if (dm_device_write_state(dev, dev->args->state_file, err,
                              sizeof(err)) < 0) {
        if (!dev->state_write_failed) {
            dm_warn("%s (a restart would not find the device as it is)",
                    err);
        }
        dev->state_write_failed = true;
    } else {
        dev->state_write_failed = false;
    }
    dev->saving_setup = false;
}

/* The tokens earned since the last refill, up to the burst. */
static void state_refill(DmDevice *dev, int64_t now)
{
    int64_t earned = (now - dev->state_refill_ns) / DM_STATE_GAP_NS;

    if (earned <= 0) {
        return;
    }
    dev->state_tokens = MIN(DM_STATE_BURST, dev->state_tokens + earned);
    dev->state_refill_ns += earned * DM_STATE_GAP_NS;
}

static void state_timer_fired(void *opaque)
{
    DmDevice *dev = opaque;

    state_refill(dev, dm_clock_ns());
    if (dev->state_tokens) {
        dev->state_tokens--;
    }
    state_write_setup(dev);
}

void dm_device_state_changed(DmDevice *dev)
{
    const char *state_file = dev->args ? dev->args->state_file : NULL;
    int64_t now;

    if (!state_file || !dev->model->save) {
        return;
    }
    if (dm_timer_pending(&dev->state_timer)) {
        return;                 /* this change goes with that write */
    }
    now = dm_clock_ns();
    if (!dev->state_refill_ns) {
        dev->state_tokens = DM_STATE_BURST;     /* the first change */
        dev->state_refill_ns = now;
    }
    state_refill(dev, now);
    if (!dev->state_tokens && dev->loop) {
        dev->state_timer.cb = state_timer_fired;
        dev->state_timer.opaque = dev;
        dm_timer_mod(&dev->state_timer,
                     dev->state_refill_ns + DM_STATE_GAP_NS - now);
        return;
    }
    if (dev->state_tokens) {
        dev->state_tokens--;
    }
    state_write_setup(dev);
}

bool dm_device_state_behind(const DmDevice *dev)
{
    return dm_timer_pending(&dev->state_timer);
}

bool dm_device_saving_setup(const DmDevice *dev)
{
    return dev->saving_setup;
}

