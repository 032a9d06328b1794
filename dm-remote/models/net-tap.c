/*
 * virtio-net's tap back end: a tap device on the server (tap=IFNAME),
 * made by the operator or the launcher (or by us, for as long as we hold
 * it, if it does not exist), bridged or routed as the server's network
 * wants.
 *
 * The tap carries the kernel's virtio header (IFF_VNET_HDR, 12 bytes:
 * virtio_net_hdr_v1, TUNSETVNETHDRSZ), so the guest's checksum offload
 * goes to the kernel as it is and, once the driver takes GUEST_CSUM, the
 * kernel may hand us frames whose checksum is left to the guest's stack
 * (TUNSETOFFLOAD TUN_F_CSUM), and TCP segments joined up to 64 KiB once
 * it takes GUEST_TSO4/6 (TUN_F_TSO4/6); the guest's own TSO frames go to
 * the kernel, which cuts them.  Reads stop while the card's receive queue
 * is full (the kernel's tap queue holds what comes meanwhile, and counts
 * what it drops), and start again when the card has room.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "net-backend.h"

#define VNET_HDR_LEN    12
/* The largest frame a tap hands us: a 64 KiB packet and its headers. */
#define TAP_BUF         (VNET_HDR_LEN + 65536 + 14 + 4)
/* Frames read per wake-up, before the loop serves its other work. */
#define READ_BUDGET     64

struct NetBackend {
    DmDevice *dev;
    int fd;
    NetReceive *rx;
    void *opaque;
    bool paused;
    char ifname[IFNAMSIZ];
    uint8_t buf[TAP_BUF];
};

static void tap_readable(void *opaque, int fd, short revents)
{
    NetBackend *be = opaque;

    for (int i = 0; i < READ_BUDGET; i++) {
        ssize_t n = read(fd, be->buf, sizeof(be->buf));

        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                dm_warn("virtio-net: tap %s: %s", be->ifname,
                        strerror(errno));
            }
            return;
        }
        if (!be->rx(be->opaque, be->buf, n)) {
            be->paused = true;
            dm_loop_set_events(dm_device_loop(be->dev), fd, 0);
            return;
        }
    }
}

static int tap_open(DmDevice *dev, const NetBackendOpts *o, NetReceive *rx,
                    void *opaque, NetBackend **ret, bool *vnet_hdr)
{
    NetBackend *be;
    struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
    unsigned features = 0;
    int hdr = VNET_HDR_LEN, err;

    if (!o->tap || strlen(o->tap) >= IFNAMSIZ) {
        dm_error("virtio-net: tap= needs an interface name of at most %d "
                 "bytes", IFNAMSIZ - 1);
        return -EINVAL;
    }
    be = calloc(1, sizeof(*be));
    if (!be) {
        return -ENOMEM;
    }
    be->dev = dev;
    be->rx = rx;
    be->opaque = opaque;
    snprintf(be->ifname, sizeof(be->ifname), "%s", o->tap);
    strcpy(ifr.ifr_name, be->ifname);
    be->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (be->fd < 0) {
        err = -errno;
        dm_error("virtio-net: /dev/net/tun: %s", strerror(errno));
        free(be);
        return err;
    }
    if (ioctl(be->fd, TUNGETFEATURES, &features) < 0 ||
        !(features & IFF_VNET_HDR)) {
        dm_error("virtio-net: this kernel's taps have no virtio header");
        err = -ENOTSUP;
        goto fail;
    }
    if (ioctl(be->fd, TUNSETIFF, &ifr) < 0) {
        err = -errno;
        dm_error("virtio-net: tap %s: %s", be->ifname, strerror(errno));
        goto fail;
    }
    if (ioctl(be->fd, TUNSETVNETHDRSZ, &hdr) < 0 ||
        ioctl(be->fd, TUNSETOFFLOAD, 0) < 0) {
        err = -errno;
        dm_error("virtio-net: tap %s: its virtio header: %s", be->ifname,
                 strerror(errno));
        goto fail;
    }
    err = dm_loop_add_fd(dm_device_loop(dev), be->fd, POLLIN, tap_readable,
                         be);
    if (err < 0) {
        goto fail;
    }
    dm_info("virtio-net: on tap %s", be->ifname);
    *ret = be;
    *vnet_hdr = true;
    return 0;
fail:
    close(be->fd);
    free(be);
    return err;
}

static int tap_send(NetBackend *be, const uint8_t *frame, size_t len)
{
    ssize_t n = write(be->fd, frame, len);

    /* A full tap queue (EAGAIN) loses the frame, as a wire would. */
    return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

static void tap_resume(NetBackend *be)
{
    if (be->paused) {
        be->paused = false;
        dm_loop_set_events(dm_device_loop(be->dev), be->fd, POLLIN);
    }
}

static void tap_set_offloads(NetBackend *be, unsigned offloads)
{
    unsigned long f = ((offloads & NET_OFFLOAD_CSUM) ? TUN_F_CSUM : 0) |
                      ((offloads & NET_OFFLOAD_TSO4) ? TUN_F_TSO4 : 0) |
                      ((offloads & NET_OFFLOAD_TSO6) ? TUN_F_TSO6 : 0);

    if (ioctl(be->fd, TUNSETOFFLOAD, f) < 0) {
        dm_warn("virtio-net: tap %s: offloads 0x%lx: %s", be->ifname, f,
                strerror(errno));
    }
}

static void tap_close(NetBackend *be)
{
    dm_loop_del_fd(dm_device_loop(be->dev), be->fd);
    close(be->fd);
    free(be);
}

const NetBackendOps net_tap_ops = {
    .open = tap_open,
    .send = tap_send,
    .resume = tap_resume,
    .set_offloads = tap_set_offloads,
    .close = tap_close,
};
