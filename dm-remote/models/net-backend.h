/*
 * Where virtio-net's frames go: a small interface between the card
 * (rings, features, the receive queue) and the network behind it.
 *
 *   net-slirp.c  user-mode networking by libslirp, in the model's
 *                process and event loop (net=user): DHCP, DNS, TCP and
 *                UDP out from the server's address, hostfwd into the guest
 *
 * Everything runs on the event loop.  Frames are Ethernet frames without
 * the virtio header, checksums complete.
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

/* A frame for the guest, from the back end (the card copies it). */
typedef void NetReceive(void *opaque, const uint8_t *frame, size_t len);

typedef struct NetBackendOpts {
    const char *hostfwd;        /* slirp: rules, '+' between two */
    const char *subnet;         /* slirp: the guest's network, CIDR */
    bool restricted;            /* slirp: no way out but hostfwd */
    unsigned mtu;
} NetBackendOpts;

typedef struct NetBackendOps {
    /* 0, or -errno with the reason logged. */
    int (*open)(DmDevice *dev, const NetBackendOpts *opts, NetReceive *rx,
                void *opaque, NetBackend **be);
    /* A frame from the guest. */
    void (*send)(NetBackend *be, const uint8_t *frame, size_t len);
    void (*close)(NetBackend *be);
} NetBackendOps;

extern const NetBackendOps net_slirp_ops;

/* Check a hostfwd= value's syntax: 0, or -EINVAL with a reason. */
int net_slirp_check_hostfwd(const char *val, char *err, size_t errlen);
/* Check a subnet= value: 0, or -EINVAL with a reason. */
int net_slirp_check_subnet(const char *val, char *err, size_t errlen);

#endif /* NET_BACKEND_H */
