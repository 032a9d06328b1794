/*
 * The model's doorbells: VFIO_USER_DEVICE_GET_REGION_IO_FDS.
 *
 * A model lists, per region, the addresses whose write only says "look"
 * (a virtio queue notify), each with an eventfd on one host.  A guest
 * write there then signals the eventfd instead of sending a message.
 * Under TCG (and qtest) the trapping thread does it, in the BAR's write
 * callback, under p->lock, after sending the posted writes before it:
 * the model handles the kick after them (it serves the messages it has
 * before a kick).  The memory core's own ioeventfd dispatch is not used
 * there: the BARs are lockless (qemu/patches/0006), and that dispatch
 * reads the region's ioeventfd array while the main loop may be
 * reallocating it (at a reconnection, an unplug).  Under KVM the device
 * registers the eventfds with the memory core (the kernel signals them,
 * no exit at all) and posted writes go out at once instead.
 *
 * Over TCP (no fds) a model that knows our dm_doorbells capability lists
 * its doorbells without an eventfd: a write there is sent at once, in
 * the trapping thread, instead of waiting for the flusher.  With
 * dm_vq_push, and the rings behind the doorbell told by the model, the
 * kick goes as a DM_VQ_KICK with the queue's new chains (walked here,
 * dm-proxy-vq-fetch.c), so the model need not fetch them.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/lockable.h"
#include "qemu/error-report.h"
#include "hw/remote-dm/dm-proxy.h"
#include "vup/dm-ext.h"
#include "trace.h"

/* KVM_IOEVENTFD_FLAG_DATAMATCH, the only entry flag we take. */
#define DM_IOEVENTFD_FLAG_DATAMATCH (1u << 0)

/* Is @fd an eventfd?  A write to anything else could block a vCPU. */
static bool dm_proxy_is_eventfd(int fd)
{
    g_autofree char *path = g_strdup_printf("/proc/self/fd/%d", fd);
    char target[64];
    ssize_t n = readlink(path, target, sizeof(target) - 1);

    if (n < 0) {
        return false;
    }
    target[n] = 0;
    return strcmp(target, "anon_inode:[eventfd]") == 0;
}

/* Does [off, +size) (size 0: one byte) overlap a doorbell we have? */
static bool dm_proxy_doorbell_overlaps(DMProxy *p, uint32_t region,
                                       uint64_t off, uint32_t size)
{
    uint64_t len = size ? size : 1;

    for (unsigned i = 0; i < p->ndoorbells; i++) {
        DMProxyDoorbell *d = &p->doorbells[i];
        uint64_t dlen = d->size ? d->size : 1;

        if (d->region == region && off < d->offset + dlen &&
            d->offset < off + len) {
            return true;
        }
    }
    return false;
}

/*
 * Check entry @e of a reply for @region (@rsize bytes) with @m's fds:
 * the eventfd to use (a dup, ours), -1 for none, or -2 to drop it.
 */
static int dm_proxy_doorbell_check(DMProxy *p, uint32_t region,
                                   uint64_t rsize, const VupSubRegionIoFd *e,
                                   const VupMsg *m)
{
    bool size_ok = e->size == 0 || e->size == 1 || e->size == 2 ||
                   e->size == 4 || e->size == 8;
    int fd;

    if (e->type != VUP_IO_FD_TYPE_IOEVENTFD || !size_ok ||
        (e->flags & ~DM_IOEVENTFD_FLAG_DATAMATCH) ||
        ((e->flags & DM_IOEVENTFD_FLAG_DATAMATCH) && !e->size) ||
        e->offset >= rsize || (e->size && e->size > rsize - e->offset) ||
        (e->size && e->offset % e->size) ||
        dm_proxy_doorbell_overlaps(p, region, e->offset, e->size)) {
        return -2;
    }
    if (e->fd_index == VUP_IO_FD_INDEX_NONE) {
        return p->caps.dm_doorbells && !p->fds_ok ? -1 : -2;
    }
    if (e->fd_index >= m->nfds || m->fds[e->fd_index] < 0 ||
        !dm_proxy_is_eventfd(m->fds[e->fd_index])) {
        return -2;
    }
    /* Entries may share an fd: each doorbell gets its own dup. */
    fd = fcntl(m->fds[e->fd_index], F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        return -2;
    }
    /* A full counter must not block the vCPU that signals it. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

unsigned dm_proxy_doorbells_fetch(DMProxy *p, uint32_t region, uint64_t size)
{
    VupRegionIoFds req = {
        .argsz = sizeof(req) +
                 DM_PROXY_MAX_DOORBELLS * sizeof(VupSubRegionIoFd),
        .index = region,
    };
    VupRegionIoFds hdr;
    unsigned added = 0;
    VupMsg m;
    int ret;

    ret = dm_proxy_call(p, VUP_CMD_DEVICE_GET_REGION_IO_FDS, &req,
                        sizeof(req), NULL, 0, &m);
    if (ret < 0) {
        /* Upstream-like (ENOSYS, EINVAL), or a standby's (EBUSY). */
        trace_dm_proxy_doorbells_refused(p->id, region, ret);
        return 0;
    }
    memcpy(&hdr, m.payload, sizeof(hdr));
    if (hdr.index != region || hdr.flags ||
        (uint64_t)hdr.count * sizeof(VupSubRegionIoFd) >
        m.payload_len - sizeof(hdr)) {
        /* More than we asked room for (header only), or a bad reply. */
        trace_dm_proxy_doorbells_refused(p->id, region, -EINVAL);
        vup_msg_clear(&m);
        return 0;
    }
    WITH_QEMU_LOCK_GUARD(&p->lock) {
        for (uint32_t i = 0; i < hdr.count; i++) {
            VupSubRegionIoFd e;
            DMProxyDoorbell *d;
            int fd;

            memcpy(&e, m.payload + sizeof(hdr) + i * sizeof(e), sizeof(e));
            fd = p->ndoorbells < DM_PROXY_MAX_DOORBELLS ?
                 dm_proxy_doorbell_check(p, region, size, &e, &m) : -2;
            trace_dm_proxy_doorbell(p->id, region, e.offset, e.size,
                                    e.fd_index, fd);
            if (fd == -2) {
                continue;
            }
            d = &p->doorbells[p->ndoorbells];
            *d = (DMProxyDoorbell) {
                .region = region,
                .offset = e.offset,
                .size = e.size,
                .datamatch = e.flags & DM_IOEVENTFD_FLAG_DATAMATCH,
                .data = e.datamatch,
                .has_fd = fd >= 0,
            };
            if (fd >= 0) {
                event_notifier_init_fd(&d->notifier, fd);
            }
            qatomic_set(&p->ndoorbells, p->ndoorbells + 1);
            added++;
        }
    }
    vup_msg_clear(&m);
    return added;
}

void dm_proxy_doorbells_clear(DMProxy *p)
{
    QEMU_LOCK_GUARD(&p->lock);

    for (unsigned i = 0; i < p->ndoorbells; i++) {
        DMProxyDoorbell *d = &p->doorbells[i];

        assert(!d->registered);
        if (d->has_fd) {
            event_notifier_cleanup(&d->notifier);
            d->has_fd = false;
        }
    }
    qatomic_set(&p->ndoorbells, 0);
    p->post_now = false;
}

bool dm_proxy_doorbell_write(DMProxy *p, uint32_t region, uint64_t addr,
                             uint64_t val, unsigned size, const void *msg,
                             size_t len, bool posted)
{
    QEMU_LOCK_GUARD(&p->lock);
    DMProxyDoorbell *d = NULL;

    for (unsigned i = 0; i < p->ndoorbells && !d; i++) {
        DMProxyDoorbell *c = &p->doorbells[i];

        if (c->region == region && c->offset == addr &&
            (!c->size || c->size == size) &&
            (!c->datamatch || c->data == val)) {
            d = c;
        }
    }
    if (!d || p->state != DM_PROXY_CONNECTED) {
        return false;           /* an ordinary write, or it fails as one */
    }
    if (d->has_fd) {
        /* The writes before the kick reach the model before it. */
        if (dm_proxy_flush_posted(p) < 0) {
            return true;
        }
        event_notifier_set(&d->notifier);
        qatomic_inc(&p->kicks);
        return true;
    }
    if (!posted) {
        return false;           /* a call: it goes out at once anyway */
    }
    if (p->caps.dm_vq_push && d->ring.valid && p->ops->vq_push) {
        g_autoptr(GByteArray) kick = g_byte_array_new();

        if (p->ops->vq_push(p->opaque, p, d, kick)) {
            dm_proxy_post_locked(p, VUP_CMD_DM_VQ_KICK, kick->data,
                                 kick->len, true);
            return true;
        }
    }
    dm_proxy_post_locked(p, VUP_CMD_REGION_WRITE, msg, len, true);
    return true;
}
