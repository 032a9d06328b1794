/*
 * One client connection: the server side of vfio-user.
 *
 * Handlers return 0 when they replied (or the command asked for no
 * reply), or -errno for an error reply.  Stream failures set s->broken.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "vup/dm-ext.h"
#include "vup/msg.h"
#include "applied.h"
#include "log.h"
#include "loop.h"
#include "pci.h"
#include "session.h"

/* Requests a client may send while one DMA reply is awaited. */
#define DM_MAX_DEFERRED     1024
/* Register reads served inside DMA waits, nested (see wait_reply). */
#define DM_MAX_READ_DEPTH   4

typedef struct DmDeferred {
    VupMsg m;
    int recv_ret;
} DmDeferred;

static const struct timeval io_timeout = { .tv_sec = 5 };
/* A ring fetch carries a 1 MiB write, its descriptors and more. */
#define DM_OUR_MAX_XFER     (4 * 1024 * 1024)
/* A message before VERSION: a VERSION's JSON is a few hundred bytes. */
#define DM_HELLO_MAX_MSG    (sizeof(VupHeader) + 65536)
/*
 * Posted messages gathered before a send: a round's answers to 32 reads
 * of 4 KiB with their used-ring writes (bigger ones go alone).
 */
#define DM_OUTBOX_MAX       (256 * 1024)

static void set_nonblocking(int fd, bool on)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags >= 0) {
        fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK);
    }
}

DmSession *dm_session_new(DmDevice *dev, int sock, DmDmaLayout layout,
                          bool fds_ok, const DmBinding *binding)
{
    DmSession *s = calloc(1, sizeof(*s));

    if (!s) {
        return NULL;
    }
    s->dev = dev;
    s->sock = sock;
    /*
     * Over TCP (no descriptors) read through a buffer: one recv() per
     * request instead of two (header, payload).
     */
    s->stream = fds_ok ? VUP_STREAM_PLAIN(sock)
                       : vup_buffered_stream(&s->rbuf, sock);
    /*
     * After VERSION the loop polls before each message; these bound what
     * follows: the rest of a message, a DMA reply, a send.  A stalled
     * client is dropped instead of freezing the server (and its SIGTERM).
     * Before VERSION nothing waits at all: the socket is non-blocking
     * (see hello_step()).
     */
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &io_timeout, sizeof(io_timeout));
    setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &io_timeout, sizeof(io_timeout));
    set_nonblocking(sock, true);
    vup_reader_init(&s->hello);
    vup_outbox_init(&s->outbox, DM_OUTBOX_MAX);
    s->dma_layout = layout;
    s->fds_ok = fds_ok;
    s->binding = binding;
    vup_caps_init_defaults(&s->caps);
    s->standby = true;          /* the device is not ours before VERSION */
    s->reported_running = -1;
    s->accepted_ns = dm_clock_ns();
    return s;
}

static const DmLinkOps session_link_ops;

void dm_session_promote(DmSession *s)
{
    s->standby = false;
    dm_device_attach(s->dev, &session_link_ops, s);
    /* A client that will never say its VM runs does not find it stopped. */
    if (!s->caps.dm_vm_clock) {
        dm_device_set_vm_stopped(s->dev, false);
    }
    /* The device's client: the usual I/O, bounded by the socket timeouts. */
    set_nonblocking(s->sock, false);
}

void dm_session_free(DmSession *s)
{
    if (!s) {
        return;
    }
    vup_reader_clear(&s->hello);
    vup_outbox_free(&s->outbox);
    while (!g_queue_is_empty(&s->deferred)) {
        DmDeferred *d = g_queue_pop_head(&s->deferred);

        vup_msg_clear(&d->m);
        g_free(d);
    }
    if (!s->standby) {
        dm_device_detach(s->dev);
    }
    dm_dma_unmap_all(&s->dma);
    dm_tls_session_free(s->tls);
    close(s->sock);
    free(s);
}

void dm_session_require_tls(DmSession *s)
{
    s->greeting = true;
}

int dm_session_greet(DmSession *s, DmTlsCreds *creds, bool *ret_want_write,
                     char *err, size_t errlen)
{
    int ret;

    *ret_want_write = false;
    if (!s->tls) {
        ret = dm_tls_peek_handshake(s->sock);
        if (ret == 0) {
            /*
             * A plain vfio-user client: tell it why, in its own protocol,
             * once its first message is in (gathered like a VERSION,
             * without waiting: see hello_step()).
             */
            s->refuse_plain = true;
            s->greeting = false;
            return 0;
        }
        if (ret < 0) {
            if (ret != -EAGAIN) {
                snprintf(err, errlen, "no TLS handshake: %s",
                         ret == -ECONNRESET ? "the client closed"
                                            : strerror(-ret));
            }
            return ret;
        }
        ret = dm_tls_session_new(creds, s->sock, &s->tls, err, errlen);
        if (ret < 0) {
            return ret;
        }
    }
    ret = dm_tls_session_handshake(s->tls, ret_want_write, err, errlen);
    if (ret < 0) {
        return ret;
    }
    s->stream = dm_tls_session_stream(s->tls);
    s->greeting = false;
    dm_info("TLS session with %s", dm_tls_session_peer(s->tls));
    return 0;
}

/*
 * The stream failed where a model waited or sent (a DMA, an interrupt,
 * posted messages): said once, with why, since the model's queues park
 * on it (a lost link, docs/protocol.md) and the server closes the session
 * (client_pending).
 */
static void stream_failed(DmSession *s, const char *what, int err)
{
    if (!s->broken) {
        dm_warn("%s failed (%s): the session is lost, closing it", what,
                strerror(err < 0 ? -err : err));
    }
    s->broken = true;
}

int dm_session_flush(DmSession *s)
{
    int ret;

    if (!s->outbox.len) {
        return 0;
    }
    ret = vup_stream_send_outbox(&s->stream, &s->outbox);
    if (ret < 0) {
        stream_failed(s, "sending posted messages", ret);
    }
    return ret;
}

/*
 * Out now, behind the posted messages gathered: in the same send when it
 * fits with them (no descriptors).
 */
static int send_now(DmSession *s, const VupHeader *h, const void *payload,
                    size_t len, const int *fds, unsigned nfds)
{
    int ret;

    if (s->outbox.len && !nfds &&
        vup_outbox_add(&s->outbox, h, payload, len) == 0) {
        return dm_session_flush(s);
    }
    ret = dm_session_flush(s);
    return ret < 0 ? ret : vup_stream_send_msg(&s->stream, h, payload, len,
                                               fds, nfds);
}

/* Posted: gathered, out when the loop is about to wait (or when full). */
static int post(DmSession *s, const VupHeader *h, const void *payload,
                size_t len)
{
    int ret = vup_outbox_add(&s->outbox, h, payload, len);

    if (ret == -ENOSPC) {
        ret = dm_session_flush(s);
        if (ret == 0) {
            ret = vup_outbox_add(&s->outbox, h, payload, len);
        }
    }
    /* Too big to gather (a 1 MiB write), or no memory: alone. */
    return ret == -ENOSPC || ret == -ENOMEM
           ? send_now(s, h, payload, len, NULL, 0) : ret;
}

static int reply(DmSession *s, const VupMsg *m, const void *payload,
                 size_t len)
{
    int ret;

    if (m->hdr.flags & VUP_FLAG_NO_REPLY) {
        return 0;
    }
    ret = send_now(s, &(VupHeader) { .msg_id = m->hdr.msg_id,
                                     .command = m->hdr.command,
                                     .flags = VUP_FLAG_TYPE_REPLY },
                   payload, len, NULL, 0);
    if (ret < 0) {
        s->broken = true;
    }
    return 0;
}

/* ---- VERSION ---- */

/* Compare secrets in time independent of where they differ. */
static bool equal_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;

    for (size_t i = 0; i < VUP_ID_MAX; i++) {
        unsigned char x = i < la ? a[i] : 0, y = i < lb ? b[i] : 0;

        diff |= x ^ y;
    }
    return diff == 0;
}

/*
 * Does the client present the identifiers we are bound to?  0, -EPERM
 * (an identifier differs) or -EACCES (the token does).  The token is
 * never logged.
 */
static int check_binding(DmSession *s, const VupCaps *peer)
{
    for (int i = 0; s->binding && i < VUP_ID_COUNT; i++) {
        const char *want = s->binding->ids[i];

        if (!want || !*want) {
            continue;
        }
        if (i == VUP_ID_TOKEN) {
            if (!equal_secret(peer->ids[i], want)) {
                dm_warn("refused a client: wrong access token");
                return -EACCES;
            }
        } else if (strcmp(peer->ids[i], want) != 0) {
            dm_warn("refused a client: %s '%s' is not '%s'", vup_id_name(i),
                    peer->ids[i], want);
            return -EPERM;
        }
    }
    return 0;
}

static int handle_version(DmSession *s, VupMsg *m)
{
    uint16_t major, minor;
    VupCaps peer, ours;
    char err[160];
    void *buf;
    size_t len;
    int ret;

    if (s->versioned) {
        dm_warn("client sent VERSION twice, refusing");
        return -EINVAL;
    }
    if (vup_version_parse(m->payload, m->payload_len, &major, &minor, &peer,
                          err, sizeof(err)) < 0) {
        dm_warn("bad VERSION from client: %s", err);
        return -EINVAL;
    }
    if (major != VUP_VERSION_MAJOR) {
        dm_warn("client speaks vfio-user %u.%u, we speak %u.x", major,
                minor, VUP_VERSION_MAJOR);
        return -ENOTSUP;
    }
    ret = check_binding(s, &peer);
    if (ret < 0) {
        s->broken = true;       /* answer, then close */
        return ret;
    }
    /* The device, else the standby slot if the client can wait. */
    ret = s->claim(s->owner, s, peer.dm_standby);
    if (ret < 0) {
        dm_info("refused a client: the device is busy");
        s->broken = true;
        return ret;
    }

    vup_caps_init_defaults(&ours);
    ours.max_msg_fds = s->fds_ok ? VUP_MAX_FDS : 0;
    ours.dm_irq_messages = true;
    ours.dm_standby = s->standby;
    ours.dm_vm_clock = true;
    ours.dm_doorbells = true;
    ours.dm_vq_fetch = true;
    ours.dm_vq_push = !getenv("DM_NO_VQ_PUSH");
    ours.dm_events = true;
    ours.dm_dirty_pages = true;
    ours.dm_controls = true;
    ours.dm_applied = true;
    ours.max_data_xfer_size = DM_OUR_MAX_XFER;
    ours.max_dma_maps = DM_DMA_MAX_MAPS;
    /*
     * We serve REGION_WRITE_MULTI but do not offer it: QEMU 10.2's client
     * turns the offer into forcing every message through its I/O thread
     * (its VFIO_PROXY_USE_MULTI is 0x16, which includes FORCE_QUEUED).
     */
    ours.write_multiple = false;
    vup_caps_negotiate(&ours, &peer, &s->caps);
    s->client_vcpus = peer.dm_vcpus;
    memcpy(s->client_accel, peer.dm_accel, sizeof(s->client_accel));
    /* What we may send the client is bounded by what it receives. */
    s->caps.max_msg_fds = peer.max_msg_fds;

    if (s->dma_layout == DM_DMA_LAYOUT_AUTO) {
        /*
         * QEMU 10.2's vfio-user-pci puts DMA data at payload offset 12;
         * it is the client that proposes 0.0 with a migration object.
         */
        s->dma_layout = (minor == 0 && peer.has_migration) ?
                        DM_DMA_LAYOUT_QEMU : DM_DMA_LAYOUT_SPEC;
    }

    /* Our minor is 0: never above what the client proposed. */
    ret = vup_version_build(VUP_VERSION_MAJOR, VUP_VERSION_MINOR, &s->caps,
                            &buf, &len);
    if (ret < 0) {
        return ret;
    }
    s->versioned = true;
    reply(s, m, buf, len);
    free(buf);
    dm_info("client connected: vfio-user %u.%u, max_xfer %llu, %s DMA "
            "layout%s%s", major, minor,
            (unsigned long long)s->caps.max_data_xfer_size,
            s->dma_layout == DM_DMA_LAYOUT_QEMU ? "qemu-10.2" : "spec",
            s->caps.dm_vq_fetch ? ", ring fetch and posted DMA writes" : "",
            s->caps.dm_vq_push ? ", chains with the kick" : "");
    return 0;
}

/* ---- DMA_MAP / DMA_UNMAP ---- */

static int handle_dma_map(DmSession *s, VupMsg *m)
{
    VupDmaMap req;
    int fd, ret;

    memcpy(&req, m->payload, sizeof(req));
    if (m->nfds > 1) {
        return -EINVAL;
    }
    fd = vup_msg_take_fd(m, 0);
    /* No I/O thread reads the table while it changes (model.h). */
    if (!s->standby) {
        dm_device_dma_mapping(s->dev);
    }
    ret = dm_dma_map(&s->dma, &req, fd);
    if (ret < 0) {
        if (fd >= 0) {
            close(fd);
        }
        return ret;
    }
    return reply(s, m, NULL, 0);
}

#define VFIO_DMA_UNMAP_FLAG_ALL (1u << 1)   /* <linux/vfio.h> */

static int handle_dma_unmap(DmSession *s, VupMsg *m)
{
    VupDmaUnmap req;
    int ret;

    memcpy(&req, m->payload, sizeof(req));
    /* The model lets go of the memory (requests in flight end) first. */
    if (!s->standby) {
        if (req.flags & VFIO_DMA_UNMAP_FLAG_ALL) {
            dm_device_dma_unmapping(s->dev, 0, UINT64_MAX);
        } else if (!req.flags) {
            dm_device_dma_unmapping(s->dev, req.address, req.size);
        }
    }
    if (req.flags & VFIO_DMA_UNMAP_FLAG_ALL) {
        dm_dma_unmap_all(&s->dma);
    } else if (req.flags) {
        return -EINVAL;
    } else {
        ret = dm_dma_unmap(&s->dma, req.address, req.size);
        if (ret < 0) {
            return -EINVAL;
        }
    }
    return reply(s, m, &req, sizeof(req));
}

/* ---- Device, region and IRQ info ---- */

static int handle_device_get_info(DmSession *s, VupMsg *m)
{
    VupDeviceInfo info;

    memcpy(&info, m->payload, sizeof(info));
    if (info.argsz < sizeof(info)) {
        return -EINVAL;
    }
    info = (VupDeviceInfo) {
        .argsz = sizeof(info),
        .flags = VUP_DEVICE_FLAG_RESET |
                 (s->dev->is_pci ? VUP_DEVICE_FLAG_PCI
                                 : VUP_DEVICE_FLAG_PLATFORM),
        .num_regions = s->dev->num_regions,
        .num_irqs = dm_irq_num_indexes(&s->dev->irqs),
    };
    return reply(s, m, &info, sizeof(info));
}

/*
 * Append a capability of @len bytes to the chain in @caps (@used bytes
 * so far, right after the VupRegionInfo; *@last its last one): where
 * it goes, zeroed but for its header.
 */
static void *add_region_cap(uint8_t *caps, size_t *used,
                            VupInfoCapHeader **last, uint16_t id, size_t len)
{
    VupInfoCapHeader *h = (VupInfoCapHeader *)(caps + *used);

    if (*last) {
        (*last)->next = sizeof(VupRegionInfo) + *used;
    }
    memset(h, 0, len);
    h->id = id;
    h->version = 1;
    *last = h;
    *used += len;
    return h;
}

/*
 * GET_REGION_INFO.  A region with mappable areas, asked over a socket
 * that carries descriptors, says MMAP and passes its memfd, mapped from
 * offset 0 (the reply's offset); a sparse-mmap capability lists the
 * areas unless one covers the whole region.  An argsz too small for the
 * capabilities learns the size it needs and gets none, nor FLAG_CAPS
 * (as libvfio-user answers: upstream QEMU's client refuses FLAG_CAPS
 * with cap_offset 0), nor the memfd they describe.  Over TCP: no MMAP,
 * no fd.  A client with dm_dirty_pages also learns, over any transport,
 * which areas the guest alone writes (VUP_REGION_INFO_CAP_DM_DIRTY).
 */
static int handle_region_info(DmSession *s, VupMsg *m)
{
    struct {
        VupRegionInfo info;
        uint8_t caps[2 * (sizeof(VupRegionInfoCapSparseMmap) +
                          DM_MAX_MAPPED_AREAS * sizeof(VupSparseMmapArea)) +
                     sizeof(VupRegionInfoCapDmIsa)];
    } __attribute__((packed)) r;
    const DmMappedArea *areas[DM_MAX_MAPPED_AREAS];
    VupInfoCapHeader *last = NULL;
    VupRegionInfo req;
    const DmRegion *reg;
    size_t len = sizeof(r.info), used = 0;
    unsigned nareas = 0;
    bool sparse = false;
    int fd = -1;
    VupHeader h;

    memcpy(&req, m->payload, sizeof(req));
    if (req.argsz < sizeof(req) || req.index >= s->dev->num_regions) {
        return -EINVAL;
    }
    reg = &s->dev->regions[req.index];
    memset(&r, 0, sizeof(r));
    r.info = (VupRegionInfo) {
        .argsz = sizeof(r.info),
        .flags = reg->size ? VUP_REGION_INFO_FLAG_READ |
                             VUP_REGION_INFO_FLAG_WRITE : 0,
        .index = req.index,
        .size = reg->size,
        .offset = (uint64_t)req.index << 40,
    };
    /* First: dm-proxy-isa looks for it at cap_offset. */
    if (reg->isa_defaults) {
        VupRegionInfoCapDmIsa *isa;

        isa = add_region_cap(r.caps, &used, &last, VUP_REGION_INFO_CAP_DM_ISA,
                             sizeof(*isa));
        isa->iobase = reg->isa_iobase;
        isa->irq = reg->isa_irq;
    }
    if (s->fds_ok && s->caps.max_msg_fds > 0) {
        nareas = dm_mapped_areas_of(&s->dev->mapped, req.index, areas,
                                    DM_MAX_MAPPED_AREAS, &fd);
    }
    if (nareas && fd >= 0) {
        r.info.flags |= VUP_REGION_INFO_FLAG_MMAP;
        r.info.offset = 0;      /* where the memfd maps the region */
        if (nareas > 1 || areas[0]->offset || areas[0]->size != reg->size) {
            VupRegionInfoCapSparseMmap *sp;
            VupSparseMmapArea *a;

            sp = add_region_cap(r.caps, &used, &last,
                                VUP_REGION_INFO_CAP_SPARSE_MMAP,
                                sizeof(*sp) + nareas * sizeof(*a));
            sp->nr_areas = nareas;
            sparse = true;
            a = (VupSparseMmapArea *)(sp + 1);
            for (unsigned i = 0; i < nareas; i++) {
                a[i] = (VupSparseMmapArea) {
                    .offset = areas[i]->offset, .size = areas[i]->size,
                };
            }
        }
    }
    if (s->caps.dm_dirty_pages) {
        const DmMappedArea *gareas[DM_MAX_MAPPED_AREAS];
        unsigned n = dm_mapped_guest_only_of(&s->dev->mapped, req.index,
                                             gareas, DM_MAX_MAPPED_AREAS);

        if (n) {
            VupRegionInfoCapSparseMmap *dc;
            VupSparseMmapArea *a;

            dc = add_region_cap(r.caps, &used, &last,
                                VUP_REGION_INFO_CAP_DM_DIRTY,
                                sizeof(*dc) + n * sizeof(*a));
            dc->nr_areas = n;
            a = (VupSparseMmapArea *)(dc + 1);
            for (unsigned i = 0; i < n; i++) {
                a[i] = (VupSparseMmapArea) {
                    .offset = gareas[i]->offset, .size = gareas[i]->size,
                };
            }
        }
    }
    if (used) {
        r.info.argsz = sizeof(r.info) + used;
        if (req.argsz >= r.info.argsz) {
            r.info.flags |= VUP_REGION_INFO_FLAG_CAPS;
            r.info.cap_offset = sizeof(r.info);
            len = r.info.argsz;
        } else if (sparse) {
            fd = -1;            /* the areas come with the longer reply */
        }
    }
    if (!(r.info.flags & VUP_REGION_INFO_FLAG_MMAP)) {
        fd = -1;
    }
    if (m->hdr.flags & VUP_FLAG_NO_REPLY) {
        return 0;
    }
    h = (VupHeader) {
        .msg_id = m->hdr.msg_id,
        .command = m->hdr.command,
        .flags = VUP_FLAG_TYPE_REPLY,
    };
    if (send_now(s, &h, &r, len, fd >= 0 ? &fd : NULL, fd >= 0) < 0) {
        s->broken = true;
    }
    return 0;
}

/*
 * GET_REGION_IO_FDS: the region's doorbells, each with its eventfd (the
 * spec's ioeventfd, no datamatch) while fds can travel and the client
 * takes more; else, for a client that offered dm_doorbells, without one
 * (VUP_IO_FD_INDEX_NONE: kicks it sends at once), else not at all.  A
 * region without doorbells gets count 0.  As in VFIO, an argsz too small
 * for the entries gets the header alone, with the argsz and count needed
 * and no descriptor.
 */
static int handle_region_io_fds(DmSession *s, VupMsg *m)
{
    struct {
        VupRegionIoFds hdr;
        VupSubRegionIoFd sub[DM_MAX_DOORBELLS];
    } __attribute__((packed)) r;
    const DmDoorbell *bells[DM_MAX_DOORBELLS];
    int fds[VUP_MAX_FDS];
    unsigned n, listed = 0, nfds = 0, max_fds;
    VupRegionIoFds req;
    VupHeader h;
    size_t len;

    memcpy(&req, m->payload, sizeof(req));
    /* The spec: flags and count must be zero in a request. */
    if (req.argsz < sizeof(req) || req.flags || req.count ||
        req.index >= s->dev->num_regions ||
        !s->dev->regions[req.index].size) {
        return -EINVAL;
    }
    n = dm_doorbells_of_region(&s->dev->doorbells, req.index, bells,
                               DM_MAX_DOORBELLS);
    max_fds = s->fds_ok ? MIN(VUP_MAX_FDS, s->caps.max_msg_fds) : 0;
    memset(&r, 0, sizeof(r));
    for (unsigned i = 0; i < n; i++) {
        VupSubRegionIoFd *e = &r.sub[listed];

        if (bells[i]->fd >= 0 && nfds < max_fds) {
            e->fd_index = nfds;
            fds[nfds++] = bells[i]->fd;
        } else if (s->caps.dm_doorbells) {
            e->fd_index = VUP_IO_FD_INDEX_NONE;
        } else {
            continue;           /* its kicks come as REGION_WRITEs */
        }
        e->offset = bells[i]->offset;
        e->size = bells[i]->size;
        e->type = VUP_IO_FD_TYPE_IOEVENTFD;
        listed++;
    }
    len = sizeof(r.hdr) + listed * sizeof(r.sub[0]);
    r.hdr = (VupRegionIoFds) {
        .argsz = len,
        .index = req.index,
        .count = listed,
    };
    if (req.argsz < len) {
        len = sizeof(r.hdr);
        nfds = 0;
    }
    if (m->hdr.flags & VUP_FLAG_NO_REPLY) {
        return 0;
    }
    h = (VupHeader) {
        .msg_id = m->hdr.msg_id,
        .command = m->hdr.command,
        .flags = VUP_FLAG_TYPE_REPLY,
    };
    if (send_now(s, &h, &r, len, fds, nfds) < 0) {
        s->broken = true;
    }
    return 0;
}

static int handle_irq_info(DmSession *s, VupMsg *m)
{
    VupIrqInfo info;
    uint32_t count, flags;

    memcpy(&info, m->payload, sizeof(info));
    if (info.argsz < sizeof(info) ||
        dm_irq_info(&s->dev->irqs, info.index, &count, &flags) < 0) {
        return -EINVAL;
    }
    info.argsz = sizeof(info);
    info.flags = flags;
    info.count = count;
    return reply(s, m, &info, sizeof(info));
}

/* ---- SET_IRQS ---- */

static bool one_bit(uint32_t v)
{
    return v && !(v & (v - 1));
}

/*
 * SET_IRQS: the message is checked here, the wiring is irq.c's.
 */
static int set_irqs(DmSession *s, VupMsg *m)
{
    VupIrqSet req;
    uint32_t data, action, count, info_flags;
    const uint8_t *bools = NULL;

    memcpy(&req, m->payload, sizeof(req));
    data = req.flags & (VUP_IRQ_SET_DATA_TYPE_MASK |
                        VUP_IRQ_SET_DATA_DM_MESSAGE);
    action = req.flags & VUP_IRQ_SET_ACTION_TYPE_MASK;
    if (dm_irq_info(&s->dev->irqs, req.index, &count, &info_flags) < 0 ||
        !one_bit(data) || !one_bit(action) ||
        (req.flags & ~(VUP_IRQ_SET_DATA_TYPE_MASK |
                       VUP_IRQ_SET_DATA_DM_MESSAGE |
                       VUP_IRQ_SET_ACTION_TYPE_MASK))) {
        return -EINVAL;
    }

    if (data == VUP_IRQ_SET_DATA_DM_MESSAGE) {
        /* Our extension: signal these vectors with DM_IRQ messages. */
        if (!s->caps.dm_irq_messages || action != VUP_IRQ_SET_ACTION_TRIGGER ||
            req.count == 0 || m->nfds ||
            (uint64_t)req.start + req.count > count) {
            return -EINVAL;
        }
        dm_irq_set_messages(&s->dev->irqs, req.index, req.start, req.count);
        return reply(s, m, NULL, 0);
    }

    if (req.count == 0) {
        /* The spec's special case: disable every vector of the index. */
        if (req.start || data != VUP_IRQ_SET_DATA_NONE ||
            action != VUP_IRQ_SET_ACTION_TRIGGER || m->nfds) {
            return -EINVAL;
        }
        dm_irq_set_triggers(&s->dev->irqs, req.index, 0, count, NULL);
        return reply(s, m, NULL, 0);
    }
    if ((uint64_t)req.start + req.count > count) {
        return -EINVAL;
    }
    if (data == VUP_IRQ_SET_DATA_BOOL) {
        if (m->payload_len < sizeof(req) + (uint64_t)req.count) {
            return -EINVAL;
        }
        bools = m->payload + sizeof(req);
    }
    if (data == VUP_IRQ_SET_DATA_EVENTFD) {
        int fds[VUP_MAX_FDS];

        if (action != VUP_IRQ_SET_ACTION_TRIGGER) {
            return -ENOTSUP;    /* mask/unmask notification fds */
        }
        if (m->nfds == 0) {
            dm_irq_set_triggers(&s->dev->irqs, req.index, req.start, req.count,
                                NULL);
            return reply(s, m, NULL, 0);
        }
        if (m->nfds != req.count || m->nfds > VUP_MAX_FDS) {
            return -EINVAL;
        }
        for (uint32_t i = 0; i < req.count; i++) {
            fds[i] = vup_msg_take_fd(m, i);
        }
        dm_irq_set_triggers(&s->dev->irqs, req.index, req.start, req.count, fds);
        return reply(s, m, NULL, 0);
    }
    if (m->nfds) {
        return -EINVAL;
    }
    for (uint32_t i = 0; i < req.count; i++) {
        uint32_t sub = req.start + i;

        if (bools && !bools[i]) {
            continue;
        }
        switch (action) {
        case VUP_IRQ_SET_ACTION_MASK:
            dm_irq_mask(&s->dev->irqs, req.index, sub);
            break;
        case VUP_IRQ_SET_ACTION_UNMASK:
            dm_irq_unmask(&s->dev->irqs, req.index, sub);
            break;
        case VUP_IRQ_SET_ACTION_TRIGGER:
            dm_irq_signal(&s->dev->irqs, req.index, sub);
            break;
        }
    }
    return reply(s, m, NULL, 0);
}

static int handle_set_irqs(DmSession *s, VupMsg *m)
{
    VupIrqSet req;
    int ret;

    memcpy(&req, m->payload, sizeof(req));
    ret = set_irqs(s, m);
    /* New wires (not masks, not a test trigger): the model may catch up. */
    if (ret == 0 && (req.flags & (VUP_IRQ_SET_DATA_EVENTFD |
                              VUP_IRQ_SET_DATA_DM_MESSAGE))) {
        dm_device_irqs_changed(s->dev);
    }
    return ret;
}

/* ---- Region access ---- */

/* Check @region, @offset and @count against the device; 0 or -EINVAL. */
static int check_access(DmSession *s, uint32_t region, uint64_t offset,
                        uint64_t count)
{
    const DmRegion *r;

    if (region >= s->dev->num_regions) {
        return -EINVAL;
    }
    r = &s->dev->regions[region];
    if (count == 0 || count > s->caps.max_data_xfer_size ||
        offset > r->size || count > r->size - offset) {
        return -EINVAL;
    }
    return 0;
}

static void do_read(DmSession *s, uint32_t region, uint64_t offset,
                    void *buf, uint32_t count)
{
    if (s->dev->pci && region == VUP_PCI_CONFIG_REGION_INDEX) {
        dm_pci_config_read(s->dev->pci, offset, buf, count);
    } else {
        dm_device_region_read(s->dev, region, offset, buf, count);
    }
}

static void do_write(DmSession *s, uint32_t region, uint64_t offset,
                     const void *buf, uint32_t count)
{
    if (s->dev->pci && region == VUP_PCI_CONFIG_REGION_INDEX) {
        dm_pci_config_write(s->dev->pci, offset, buf, count);
    } else {
        dm_device_region_write(s->dev, region, offset, buf, count);
    }
}

static int handle_region_read(DmSession *s, VupMsg *m)
{
    VupRegionAccess req;
    uint8_t small[sizeof(req) + 64];
    uint8_t *buf = small;
    int ret;

    memcpy(&req, m->payload, sizeof(req));
    ret = check_access(s, req.region, req.offset, req.count);
    if (ret < 0) {
        return ret;
    }
    if (req.count > sizeof(small) - sizeof(req)) {
        buf = malloc(sizeof(req) + req.count);
        if (!buf) {
            return -ENOMEM;
        }
    }
    memcpy(buf, &req, sizeof(req));
    do_read(s, req.region, req.offset, buf + sizeof(req), req.count);
    reply(s, m, buf, sizeof(req) + req.count);
    if (buf != small) {
        free(buf);
    }
    return 0;
}

static int handle_region_write(DmSession *s, VupMsg *m)
{
    VupRegionAccess req;
    int ret;

    memcpy(&req, m->payload, sizeof(req));
    ret = check_access(s, req.region, req.offset, req.count);
    if (ret < 0) {
        return ret;
    }
    if (m->payload_len != sizeof(req) + (uint64_t)req.count) {
        return -EINVAL;
    }
    do_write(s, req.region, req.offset, m->payload + sizeof(req), req.count);
    return reply(s, m, &req, sizeof(req));
}

static int handle_write_multi(DmSession *s, VupMsg *m)
{
    VupWriteMulti req;
    const VupWriteMultiEntry *e;
    int ret;

    memcpy(&req, m->payload, sizeof(req));
    if (req.wr_cnt == 0 || req.wr_cnt > VUP_WRITE_MULTI_MAX ||
        m->payload_len != sizeof(req) + req.wr_cnt * sizeof(*e)) {
        return -EINVAL;
    }
    e = (const VupWriteMultiEntry *)(m->payload + sizeof(req));
    /* Validate all before doing any: none or all of them happen. */
    for (uint64_t i = 0; i < req.wr_cnt; i++) {
        VupWriteMultiEntry w;

        memcpy(&w, &e[i], sizeof(w));
        if (w.count > VUP_WRITE_MULTI_DATA) {
            return -EINVAL;
        }
        ret = check_access(s, w.region, w.offset, w.count);
        if (ret < 0) {
            return ret;
        }
    }
    for (uint64_t i = 0; i < req.wr_cnt; i++) {
        VupWriteMultiEntry w;

        memcpy(&w, &e[i], sizeof(w));
        do_write(s, w.region, w.offset, w.data, w.count);
    }
    return reply(s, m, &req, sizeof(req));
}

static int handle_device_reset(DmSession *s, VupMsg *m)
{
    dm_device_reset(s->dev);
    return reply(s, m, NULL, 0);
}

static int handle_activate(DmSession *s, VupMsg *m)
{
    if (s->standby) {
        int ret = s->activate(s->owner, s);

        if (ret < 0) {
            return ret;
        }
    }
    return reply(s, m, NULL, 0);
}

/* The VM runs or stops: the models' VM clock follows (dm_vm_clock). */
static int handle_vm_state(DmSession *s, VupMsg *m)
{
    VupDmVmState st;

    memcpy(&st, m->payload, sizeof(st));
    if (!s->caps.dm_vm_clock || st.running > 1 || st.reserved ||
        st.vm_clock_ns > INT64_MAX) {
        return -EINVAL;
    }
    dm_vm_clock_set(&s->dev->vm_clock, st.running, st.vm_clock_ns);
    /*
     * Stopped: a report of "not running" after one of "running" (a
     * client whose clock steps says "not running" from the start); what
     * any client says "running" ends it.
     */
    if (st.running) {
        dm_device_set_vm_stopped(s->dev, false);
    } else if (s->reported_running == 1) {
        dm_device_set_vm_stopped(s->dev, true);
    }
    s->reported_running = st.running;
    if (m->hdr.flags & VUP_FLAG_NO_REPLY) {
        return 0;
    }
    /*
     * A stop that waits for us: finish what is in flight first, into
     * guest memory, before the client (a migration) takes a last look.
     */
    if (!st.running) {
        dm_device_quiesce(s->dev);
    }
    return reply(s, m, NULL, 0);
}

/*
 * DM_DIRTY_PAGES: pages of a guest-only area the client keeps, in the
 * region's memory (mapped.c checks every run before it applies any).
 */
static int handle_dirty_pages(DmSession *s, VupMsg *m)
{
    int ret;

    if (!s->caps.dm_dirty_pages) {
        return -EINVAL;         /* not negotiated */
    }
    ret = dm_mapped_apply_dirty(&s->dev->mapped, m->payload, m->payload_len);
    if (ret < 0) {
        dm_warn("DM_DIRTY_PAGES refused: a run outside the guest's areas, "
                "or sizes that do not add up");
        return ret;
    }
    s->stats.dirty_bytes += m->payload_len;
    return reply(s, m, NULL, 0);
}

/* The VM's management sets a control of the device (dm_controls). */
static int handle_control(DmSession *s, VupMsg *m)
{
    VupDmControl c;
    int ret;

    memcpy(&c, m->payload, sizeof(c));
    if (!s->caps.dm_controls || c.reserved) {
        return -EINVAL;
    }
    ret = dm_device_control(s->dev, c.type, c.value);
    if (ret < 0) {
        return ret;
    }
    return reply(s, m, NULL, 0);
}

/*
 * DM_APPLIED: the client names itself and asks which of its messages the
 * device has applied (dm_applied); from here on they are counted.
 */
static int handle_applied(DmSession *s, VupMsg *m)
{
    VupDmApplied q, a;
    int ret;

    memcpy(&q, m->payload, sizeof(q));
    if (!s->caps.dm_applied || !q.client || q.flags || q.last_id ||
        q.reserved) {
        return -EINVAL;
    }
    ret = dm_applied_begin(&s->dev->applied,
                           s->dev->args ? s->dev->args->state_file : NULL,
                           dm_device_state_behind(s->dev), q.client,
                           m->hdr.msg_id, &a);
    if (ret < 0) {
        return ret;
    }
    s->applied_client = q.client;
    return reply(s, m, &a, sizeof(a));
}

/*
 * DM_VQ_KICK: a doorbell rang, with the queue's new chains.  The header
 * is checked here; the chains by the queue that takes them (virtq.c),
 * as a fetch's reply.  Posted: an error is only counted and logged.
 */
static int handle_vq_kick(DmSession *s, VupMsg *m)
{
    VupDmVqKick k;

    memcpy(&k, m->payload, sizeof(k));
    if (!s->caps.dm_vq_push || k.cookie == 0 || k.reserved ||
        k.reserved2 || k.region >= DM_MAX_REGIONS) {
        return -EINVAL;
    }
    if (!dm_device_push_kick(s->dev, k.region, k.offset, k.cookie, k.first,
                             m->payload + sizeof(k),
                             m->payload_len - sizeof(k))) {
        dm_warn("DM_VQ_KICK of region %u offset 0x%llx: no doorbell there",
                k.region, (unsigned long long)k.offset);
        return -EINVAL;
    }
    if (!(m->hdr.flags & VUP_FLAG_NO_REPLY)) {
        return reply(s, m, NULL, 0);
    }
    return 0;
}

/* What a standby session may ask: the device's description only. */
static bool standby_allowed(DmSession *s, const VupMsg *m)
{
    VupRegionAccess acc;

    switch (m->hdr.command) {
    case VUP_CMD_VERSION:
    case VUP_CMD_DEVICE_GET_INFO:
    case VUP_CMD_DEVICE_GET_REGION_INFO:
    case VUP_CMD_DEVICE_GET_IRQ_INFO:
    case VUP_CMD_DM_ACTIVATE:
        return true;
    case VUP_CMD_REGION_READ:
        memcpy(&acc, m->payload, sizeof(acc));
        return s->dev->pci &&
               acc.region == VUP_PCI_CONFIG_REGION_INDEX;
    default:
        return false;
    }
}

/* ---- Dispatch ---- */

typedef int DmHandler(DmSession *s, VupMsg *m);

static const struct {
    DmHandler *fn;
    bool takes_fds;
} handlers[VUP_CMD_MAX] = {
    [VUP_CMD_VERSION] = { .fn = handle_version },
    [VUP_CMD_DMA_MAP] = { .fn = handle_dma_map, .takes_fds = true },
    [VUP_CMD_DMA_UNMAP] = { .fn = handle_dma_unmap },
    [VUP_CMD_DEVICE_GET_INFO] = { .fn = handle_device_get_info },
    [VUP_CMD_DEVICE_GET_REGION_INFO] = { .fn = handle_region_info },
    [VUP_CMD_DEVICE_GET_REGION_IO_FDS] = { .fn = handle_region_io_fds },
    [VUP_CMD_DEVICE_GET_IRQ_INFO] = { .fn = handle_irq_info },
    [VUP_CMD_DEVICE_SET_IRQS] = { .fn = handle_set_irqs, .takes_fds = true },
    [VUP_CMD_REGION_READ] = { .fn = handle_region_read },
    [VUP_CMD_REGION_WRITE] = { .fn = handle_region_write },
    [VUP_CMD_DEVICE_RESET] = { .fn = handle_device_reset },
    [VUP_CMD_REGION_WRITE_MULTI] = { .fn = handle_write_multi },
};

static void dispatch(DmSession *s, VupMsg *m, int recv_ret)
{
    uint32_t cmd = m->hdr.command;
    int ret = recv_ret;

    s->stats.requests++;
    if (ret == 0) {
        ret = vup_check_command(m);
    }
    if (ret == 0 && cmd != VUP_CMD_DM_ACTIVATE && cmd != VUP_CMD_DM_VM_STATE &&
        cmd != VUP_CMD_DM_DIRTY_PAGES &&
        cmd != VUP_CMD_DM_CONTROL && cmd != VUP_CMD_DM_VQ_KICK &&
        cmd != VUP_CMD_DM_APPLIED &&
        (cmd >= VUP_CMD_MAX || !handlers[cmd].fn)) {
        ret = -ENOSYS;          /* in the spec, but not served here */
    }
    if (ret == 0 && !s->versioned && cmd != VUP_CMD_VERSION) {
        dm_warn("%s before VERSION, refusing", vup_command_name(cmd));
        ret = -EINVAL;
    }
    if (ret == 0 && s->standby && !standby_allowed(s, m)) {
        ret = -EBUSY;           /* another client has the device */
    }
    if (ret == 0 && cmd == VUP_CMD_DM_ACTIVATE) {
        ret = m->nfds ? -EINVAL : handle_activate(s, m);
    } else if (ret == 0 && cmd == VUP_CMD_DM_VM_STATE) {
        ret = m->nfds ? -EINVAL : handle_vm_state(s, m);
    } else if (ret == 0 && cmd == VUP_CMD_DM_DIRTY_PAGES) {
        ret = m->nfds ? -EINVAL : handle_dirty_pages(s, m);
    } else if (ret == 0 && cmd == VUP_CMD_DM_CONTROL) {
        ret = m->nfds ? -EINVAL : handle_control(s, m);
    } else if (ret == 0 && cmd == VUP_CMD_DM_VQ_KICK) {
        ret = m->nfds ? -EINVAL : handle_vq_kick(s, m);
    } else if (ret == 0 && cmd == VUP_CMD_DM_APPLIED) {
        ret = m->nfds ? -EINVAL : handle_applied(s, m);
    } else if (ret == 0 && m->nfds && !handlers[cmd].takes_fds) {
        ret = -EINVAL;          /* unexpected fds: closed below */
    } else if (ret == 0) {
        ret = handlers[cmd].fn(s, m);
    }
    /* Done with, even if refused: a client's later message says so. */
    if (!s->standby && cmd != VUP_CMD_DM_APPLIED) {
        dm_applied_note(&s->dev->applied, dm_device_state_behind(s->dev),
                        s->applied_client, m->hdr.msg_id);
    }
    if (ret < 0) {
        s->stats.errors++;
        dm_debug("%s (id %u) failed: %s", vup_command_name(cmd),
                 m->hdr.msg_id, strerror(-ret));
        /* Behind what was posted, in the same send (send_now). */
        if (!(m->hdr.flags & VUP_FLAG_NO_REPLY) &&
            send_now(s, &(VupHeader) {
                         .msg_id = m->hdr.msg_id,
                         .command = cmd,
                         .flags = VUP_FLAG_TYPE_REPLY | VUP_FLAG_ERROR,
                         .error_no = -ret,
                     }, NULL, 0, NULL, 0) < 0) {
            s->broken = true;
        }
    }
    vup_msg_clear(m);
}

static uint32_t max_msg_size(DmSession *s)
{
    /* The biggest legal message: a region write of max_xfer bytes. */
    return sizeof(VupHeader) + sizeof(VupRegionAccess) +
           (s->versioned ? s->caps.max_data_xfer_size : DM_OUR_MAX_XFER);
}

/*
 * Before VERSION, and for a standby client: take what has arrived, never
 * wait, and handle the message once it is whole.  Replies go out on the
 * non-blocking socket too: a peer that does not read them is closed, not
 * waited for.  Only the device's client (dm_session_promote()) gets
 * blocking I/O, for the DMA replies it may owe us.
 */
static bool hello_step(DmSession *s)
{
    VupMsg m;
    int ret = vup_stream_recv_some(&s->stream, &s->hello, DM_HELLO_MAX_MSG,
                                   s->fds_ok ? VUP_MAX_FDS : 0);

    if (ret == -EAGAIN) {
        return true;            /* more to come */
    }
    if (ret < 0 && ret != -EBADMSG) {
        if (ret != -ECONNRESET) {
            dm_warn("closing connection: %s", strerror(-ret));
        }
        return false;
    }
    m = s->hello.msg;
    vup_reader_init(&s->hello);
    if (s->refuse_plain) {
        if (!(m.hdr.flags & VUP_FLAG_NO_REPLY)) {
            vup_stream_send_error(&s->stream, &m.hdr, EPROTONOSUPPORT);
        }
        vup_msg_clear(&m);
        dm_warn("TLS: a plain client on a TLS server (refused); closing the "
                "connection");
        return false;
    }
    if ((m.hdr.flags & VUP_FLAG_TYPE_MASK) == VUP_FLAG_TYPE_REPLY) {
        dm_warn("unexpected reply (id %u), ignoring", m.hdr.msg_id);
        vup_msg_clear(&m);
        return true;
    }
    dispatch(s, &m, ret);
    return !s->broken;
}

bool dm_session_has_deferred(const DmSession *s)
{
    return !g_queue_is_empty((GQueue *)&s->deferred);
}

bool dm_session_handle_one(DmSession *s)
{
    VupMsg m;
    int ret;

    if (s->standby) {
        return hello_step(s);   /* before VERSION, or a standby client */
    }
    if (!g_queue_is_empty(&s->deferred)) {
        DmDeferred *d = g_queue_pop_head(&s->deferred);

        dispatch(s, &d->m, d->recv_ret);
        g_free(d);
        return !s->broken;
    }
    ret = vup_stream_recv_msg(&s->stream, &m, max_msg_size(s),
                              s->fds_ok ? VUP_MAX_FDS : 0);

    if (ret < 0 && ret != -EBADMSG) {
        if (ret != -ECONNRESET) {
            dm_warn("closing connection: %s", strerror(-ret));
        }
        return false;
    }
    if ((m.hdr.flags & VUP_FLAG_TYPE_MASK) == VUP_FLAG_TYPE_REPLY) {
        dm_warn("unexpected reply (id %u), ignoring", m.hdr.msg_id);
        vup_msg_clear(&m);
        return true;
    }
    dispatch(s, &m, ret);
    return !s->broken;
}

/* ---- DMA through messages ---- */

/*
 * Wait for the reply to @req.  The client's requests meanwhile are kept
 * for later, so that a model is never re-entered in the middle of its
 * access (a ring walk, a used-ring update), but for register reads,
 * served at once: a client that serves our DMA only once its vCPU's
 * read is answered (upstream's vfio-user-pci, whose vCPU waits holding
 * QEMU's big lock) would otherwise wait for us while we wait for it.
 * A read changes no ring state; the fork's proxy serves our DMA while
 * it waits for anything.
 */
static int wait_reply(DmSession *s, const VupHeader *req, VupMsg *ret_msg)
{
    for (;;) {
        VupMsg m;
        int ret = vup_stream_recv_msg(&s->stream, &m, max_msg_size(s),
                                      s->fds_ok ? VUP_MAX_FDS : 0);

        if (ret < 0 && ret != -EBADMSG) {
            stream_failed(s, "waiting for a DMA reply", ret);
            return ret;
        }
        if ((m.hdr.flags & VUP_FLAG_TYPE_MASK) == VUP_FLAG_TYPE_REPLY) {
            if (m.hdr.msg_id == req->msg_id &&
                m.hdr.command == req->command) {
                *ret_msg = m;
                return 0;
            }
            dm_warn("unexpected reply (id %u), ignoring", m.hdr.msg_id);
            vup_msg_clear(&m);
            continue;
        }
        if (m.hdr.command == VUP_CMD_REGION_READ &&
            s->read_depth < DM_MAX_READ_DEPTH) {
            s->read_depth++;
            dispatch(s, &m, ret);
            s->read_depth--;
            if (s->broken) {
                return -EPIPE;
            }
            continue;
        }
        if (g_queue_get_length(&s->deferred) >= DM_MAX_DEFERRED) {
            dm_warn("more than %d requests while one DMA reply is due; "
                    "closing the connection", DM_MAX_DEFERRED);
            vup_msg_clear(&m);
            s->broken = true;
            return -EPIPE;
        }
        {
            DmDeferred *d = g_new(DmDeferred, 1);

            d->m = m;
            d->recv_ret = ret;
            g_queue_push_tail(&s->deferred, d);
        }
    }
}

static int dma_message(DmSession *s, uint64_t addr, void *buf, uint32_t len,
                       bool write)
{
    unsigned hdr_len = s->dma_layout == DM_DMA_LAYOUT_QEMU ? 12 : 16;
    VupHeader h = {
        .msg_id = s->next_id++,
        .command = write ? VUP_CMD_DMA_WRITE : VUP_CMD_DMA_READ,
    };
    VupDmaAccess acc = { .address = addr, .count = len };
    uint8_t *payload;
    size_t plen = sizeof(acc) + (write ? len : 0);
    VupMsg r;
    int ret;

    payload = calloc(1, plen);
    if (!payload) {
        return -ENOMEM;
    }
    memcpy(payload, &acc, sizeof(acc));
    if (write) {
        memcpy(payload + hdr_len, buf, len);
    }
    s->stats.dma_messages++;
    /*
     * A client with dm_vq_fetch applies posted writes in stream order:
     * nothing to wait for (our checks against its DMA windows are done).
     */
    if (write && s->caps.dm_vq_fetch) {
        h.flags |= VUP_FLAG_NO_REPLY;
        s->posted_unfenced = true;
    }
    ret = h.flags & VUP_FLAG_NO_REPLY ? post(s, &h, payload, plen)
                                      : send_now(s, &h, payload, plen, NULL, 0);
    free(payload);
    if (ret < 0) {
        stream_failed(s, "sending a DMA message", ret);
        return ret;
    }
    if (h.flags & VUP_FLAG_NO_REPLY) {
        return 0;
    }
    ret = wait_reply(s, &h, &r);
    if (ret < 0) {
        return ret;
    }
    ret = vup_check_reply(&r, &h);
    if (ret == -EINVAL && write && s->dma_layout == DM_DMA_LAYOUT_QEMU &&
        r.payload_len == 0 && !(r.hdr.flags & VUP_FLAG_ERROR)) {
        ret = 0;                /* QEMU 10.2 answers with a bare header */
    }
    if (ret == 0 && !write) {
        if (r.payload_len < hdr_len + (uint64_t)len) {
            ret = -EINVAL;
        } else {
            memcpy(buf, r.payload + hdr_len, len);
        }
    }
    vup_msg_clear(&r);
    return ret;
}

/* DMA for the model: a memcpy where memory is shared, messages elsewhere. */
static int session_dma(DmSession *s, uint64_t addr, void *buf, uint64_t len,
                       bool write)
{
    uint8_t *p = buf;

    if (len && addr + len < addr) {
        return -EFAULT;
    }
    while (len > 0) {
        const DmDmaRegion *r = dm_dma_find(&s->dma, addr);
        uint64_t n;
        int ret;

        if (!r || !(r->prot & (write ? VUP_DMA_MAP_FLAG_WRITE
                                     : VUP_DMA_MAP_FLAG_READ))) {
            return -EFAULT;
        }
        n = r->iova + r->size - addr;
        n = n < len ? n : len;
        if (r->host) {
            uint8_t *host = (uint8_t *)r->host + (addr - r->iova);

            if (write) {
                dm_dma_copy(host, p, n);
            } else {
                dm_dma_copy(p, host, n);
            }
        } else {
            if (s->broken) {
                return -EPIPE;
            }
            n = n < s->caps.max_data_xfer_size ? n
                                                : s->caps.max_data_xfer_size;
            ret = dma_message(s, addr, p, n, write);
            if (ret < 0) {
                return ret;
            }
        }
        p += n;
        addr += n;
        len -= n;
    }
    return 0;
}

/*
 * DM_VQ_FETCH: chains of a ring in one exchange, where memory is reached
 * by messages.  The reply's payload goes to the caller as it came.
 */
static int session_vq_fetch(DmSession *s, const VupDmVqFetch *req,
                            void **reply, size_t *len)
{
    const DmDmaRegion *r = dm_dma_find(&s->dma, req->avail);
    VupHeader h = {
        .msg_id = s->next_id++,
        .command = VUP_CMD_DM_VQ_FETCH,
    };
    VupMsg m;
    int ret;

    if (!s->caps.dm_vq_fetch || (r && r->host)) {
        return -ENOTSUP;        /* shared memory: walking it is cheaper */
    }
    if (s->broken) {
        return -EPIPE;
    }
    s->stats.dma_messages++;
    ret = send_now(s, &h, req, sizeof(*req), NULL, 0);
    if (ret < 0) {
        stream_failed(s, "sending a ring fetch", ret);
        return ret;
    }
    ret = wait_reply(s, &h, &m);
    if (ret < 0) {
        return ret;
    }
    ret = vup_check_reply(&m, &h);
    if (ret == 0) {
        *reply = m.payload;
        *len = m.payload_len;
        m.payload = NULL;
    }
    vup_msg_clear(&m);
    return ret;
}

/* DM_VQ_RINGS, posted: where a queue's rings are, for pushed chains. */
static int session_vq_rings(DmSession *s, const VupDmVqRings *r)
{
    const DmDmaRegion *dr = dm_dma_find(&s->dma, r->avail);
    VupHeader h = {
        .msg_id = s->next_id++,
        .command = VUP_CMD_DM_VQ_RINGS,
        .flags = VUP_FLAG_NO_REPLY,
    };
    int ret;

    if (!s->caps.dm_vq_push || (dr && dr->host)) {
        return -ENOTSUP;
    }
    if (s->broken) {
        return -EPIPE;
    }
    ret = post(s, &h, r, sizeof(*r));
    if (ret < 0) {
        stream_failed(s, "sending a queue's rings", ret);
    }
    return ret;
}

/* DM_VQ_RECHECK, posted: the client looks at a queue for us. */
static int session_vq_recheck(DmSession *s, const VupDmVqRecheck *r)
{
    VupHeader h = {
        .msg_id = s->next_id++,
        .command = VUP_CMD_DM_VQ_RECHECK,
        .flags = VUP_FLAG_NO_REPLY,
    };
    int ret;

    if (!s->caps.dm_vq_push) {
        return -ENOTSUP;
    }
    if (s->broken) {
        return -EPIPE;
    }
    ret = post(s, &h, r, sizeof(*r));
    if (ret < 0) {
        stream_failed(s, "sending a queue's look", ret);
    }
    return ret;
}

/* An interrupt as a VUP_CMD_DM_IRQ message (vectors wired that way). */
static void session_send_irq(DmSession *s, unsigned index, unsigned sub)
{
    VupHeader h = {
        .msg_id = s->next_id++,
        .command = VUP_CMD_DM_IRQ,
        .flags = VUP_FLAG_NO_REPLY,
    };
    VupDmIrq irq = { .index = index, .sub = sub };
    int ret;

    s->posted_unfenced = false;     /* what went before is applied first */
    if (s->broken) {
        return;
    }
    ret = post(s, &h, &irq, sizeof(irq));
    if (ret < 0) {
        stream_failed(s, "sending an interrupt", ret);
    }
}

/* ---- The device's link ---- */

static int session_link_dma(void *opaque, uint64_t addr, void *buf,
                            uint64_t len, bool write)
{
    return session_dma(opaque, addr, buf, len, write);
}

static int session_link_dma_iov(void *opaque, uint64_t addr, uint64_t len,
                                bool write, struct iovec *iov,
                                unsigned max_iov)
{
    DmSession *s = opaque;
    unsigned n = 0;

    if (len && addr + len < addr) {
        return -EFAULT;
    }
    while (len > 0) {
        const DmDmaRegion *r = dm_dma_find(&s->dma, addr);
        uint64_t piece;

        if (!r || !(r->prot & (write ? VUP_DMA_MAP_FLAG_WRITE
                                     : VUP_DMA_MAP_FLAG_READ))) {
            return -EFAULT;
        }
        if (!r->host) {
            return -ENOTSUP;
        }
        if (n == max_iov) {
            return -ENOBUFS;
        }
        piece = r->iova + r->size - addr;
        piece = piece < len ? piece : len;
        iov[n].iov_base = (uint8_t *)r->host + (addr - r->iova);
        iov[n].iov_len = piece;
        n++;
        addr += piece;
        len -= piece;
    }
    return n;
}

static void session_link_send_irq(void *opaque, unsigned index, unsigned sub)
{
    session_send_irq(opaque, index, sub);
}

/*
 * Must an interrupt wired to an eventfd travel as a message now?  Yes
 * while a posted DMA write may still sit in the socket: the client reads
 * the eventfd and the socket in whatever order its loop picks (KVM takes
 * an irqfd without asking it at all), so a driver woken by the eventfd
 * could look at a used ring our write has not reached yet, find nothing,
 * and never be woken for it again.  Behind the writes in the stream it
 * cannot overtake them.  Shared memory (a memcpy) posts nothing.
 */
static bool session_link_irq_in_band(void *opaque)
{
    DmSession *s = opaque;

    return s->posted_unfenced && s->caps.dm_irq_messages;
}

/* Has the client sent what we have not served yet (a doorbell waits)? */
static bool session_link_busy(void *opaque)
{
    DmSession *s = opaque;
    struct pollfd p = { .fd = s->sock, .events = POLLIN };

    return vup_stream_pending(&s->stream) > 0 ||
           !g_queue_is_empty(&s->deferred) ||
           (poll(&p, 1, 0) == 1 && (p.revents & POLLIN));
}

/* A conditional interrupt (VUP_CMD_DM_VQ_IRQ), for a client that has it. */
static bool session_link_send_irq_cond(void *opaque, unsigned index,
                                       unsigned sub, const VupDmVqIrq *cond)
{
    DmSession *s = opaque;
    VupHeader h = {
        .msg_id = s->next_id++,
        .command = VUP_CMD_DM_VQ_IRQ,
        .flags = VUP_FLAG_NO_REPLY,
    };
    VupDmVqIrq c = *cond;

    if (!s->caps.dm_vq_fetch || s->broken) {
        return false;
    }
    c.index = index;
    c.sub = sub;
    s->posted_unfenced = false;
    if (post(s, &h, &c, sizeof(c)) < 0) {
        s->broken = true;
    }
    return true;
}

/* An event for the VM's management (VUP_CMD_DM_EVENT), if it takes them. */
static void session_link_send_event(void *opaque, uint32_t type,
                                    int64_t value)
{
    DmSession *s = opaque;
    VupHeader h = {
        .msg_id = s->next_id++,
        .command = VUP_CMD_DM_EVENT,
        .flags = VUP_FLAG_NO_REPLY,
    };
    VupDmEvent ev = { .type = type, .value = value };
    int ret;

    if (!s->caps.dm_events || s->broken) {
        return;
    }
    ret = post(s, &h, &ev, sizeof(ev));
    if (ret < 0) {
        stream_failed(s, "sending an event", ret);
    }
}

static int session_link_vq_fetch(void *opaque, const VupDmVqFetch *req,
                                 void **reply, size_t *len)
{
    return session_vq_fetch(opaque, req, reply, len);
}

static int session_link_vq_rings(void *opaque, const VupDmVqRings *r)
{
    return session_vq_rings(opaque, r);
}

static int session_link_vq_recheck(void *opaque, const VupDmVqRecheck *r)
{
    return session_vq_recheck(opaque, r);
}

/* The stream failed: DMA cannot reach the client, whatever the address. */
static bool session_link_lost(void *opaque)
{
    return ((DmSession *)opaque)->broken;
}

/* Writes by message go posted to a client with dm_vq_fetch (dma_message). */
static bool session_link_posted(void *opaque, uint64_t addr)
{
    DmSession *s = opaque;
    const DmDmaRegion *r = dm_dma_find(&s->dma, addr);

    return s->caps.dm_vq_fetch && r && !r->host;
}

static unsigned session_link_client_vcpus(void *opaque)
{
    return ((DmSession *)opaque)->client_vcpus;
}

static const char *session_link_client_accel(void *opaque)
{
    return ((DmSession *)opaque)->client_accel;
}

static const DmLinkOps session_link_ops = {
    .client_vcpus = session_link_client_vcpus,
    .client_accel = session_link_client_accel,
    .dma = session_link_dma,
    .dma_iov = session_link_dma_iov,
    .send_irq = session_link_send_irq,
    .irq_in_band = session_link_irq_in_band,
    .busy = session_link_busy,
    .send_irq_cond = session_link_send_irq_cond,
    .vq_fetch = session_link_vq_fetch,
    .vq_rings = session_link_vq_rings,
    .vq_recheck = session_link_vq_recheck,
    .send_event = session_link_send_event,
    .lost = session_link_lost,
    .posted = session_link_posted,
};
