/*
 * Where virtio-net's frames go: a small interface between the card
 * (rings, features, the receive queue) and the network behind it.
 *
 *   net-slirp.c  user-mode networking by libslirp, in the model's
 *                process and event loop (net=user): DHCP, DNS, TCP and
 *                UDP out from the server's address, hostfwd into the guest
 *   net-tap.c    a tap device on the server (tap=IFNAME), with the
 *                kernel's virtio header (IFF_VNET_HDR): checksums left
 *                to the kernel, both ways
 *
 * Everything runs on the event loop.  Frames are Ethernet frames; where
 * the back end says vnet_hdr, each starts with a virtio_net_hdr_v1 (12
 * bytes) both ways, else checksums are complete.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef NET_BACKEND_H
#define NET_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

typedef struct NetBackend NetBackend;

/*
 * A frame for the guest, from the back end (the card copies it): true
 * while the card takes more; on false a back end that can wait (tap)
 * stops reading until its resume is called.
 */
typedef bool NetReceive(void *opaque, const uint8_t *frame, size_t len);

/* Offloads the guest takes (set_offloads): as the kernel's TUN_F_*. */
#define NET_OFFLOAD_CSUM    1
#define NET_OFFLOAD_TSO4    2
#define NET_OFFLOAD_TSO6    4

typedef struct NetBackendOpts {
    const char *tap;            /* tap: the interface's name */
    const char *hostfwd;        /* slirp: rules, '+' between two */
    const char *subnet;         /* slirp: the guest's network, CIDR */
    bool restricted;            /* slirp: no way out but hostfwd */
    unsigned mtu;
} NetBackendOpts;

typedef struct NetBackendOps {
    /* 0, or -errno with the reason logged; *vnet_hdr: see above. */
    int (*open)(DmDevice *dev, const NetBackendOpts *opts, NetReceive *rx,
                void *opaque, NetBackend **be, bool *vnet_hdr);
    /* A frame from the guest: 0, or -errno (the frame is lost). */
    int (*send)(NetBackend *be, const uint8_t *frame, size_t len);
    /* Optional: the card takes frames again after a false from rx. */
    void (*resume)(NetBackend *be);
    /* Optional (vnet_hdr): NET_OFFLOAD_* the guest's driver took. */
    void (*set_offloads)(NetBackend *be, unsigned offloads);
    void (*close)(NetBackend *be);
} NetBackendOps;

extern const NetBackendOps net_slirp_ops;
extern const NetBackendOps net_tap_ops;

/* Check a hostfwd= value's syntax: 0, or -EINVAL with a reason. */
int net_slirp_check_hostfwd(const char *val, char *err, size_t errlen);
/* Check a subnet= value: 0, or -EINVAL with a reason. */
int net_slirp_check_subnet(const char *val, char *err, size_t errlen);

#endif /* NET_BACKEND_H */
