/*
 * The device-model server: one model, one listening socket, one client
 * at a time.  A second client gets an EBUSY error reply and is closed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_SERVER_H
#define DM_SERVER_H

#include "address.h"
#include "device.h"
#include "session.h"

typedef struct DmServerConfig {
    const DmModel *model;
    DmAddress listen;
    DmDmaLayout dma_layout;
    int64_t spin_ns;            /* poll for the next request this long */
    int64_t hello_timeout_ns;   /* TLS and VERSION done within this */
    DmModelArgs model_args;
    DmBinding binding;
    const char *tls_creds;      /* directory; NULL: plain TCP */
    const char *state_file;     /* load at start if there, save at stop */
    const char *tcp_congestion; /* on each client's socket; NULL: default */
} DmServerConfig;

/*
 * The exit status when the TCP address to listen on is taken: a
 * launcher that picked the port may pick another (docs/dm-remote.md).
 */
#define DM_EXIT_ADDR_IN_USE 3

/* Serve until SIGTERM or SIGINT; returns the process exit status. */
int dm_server_run(const DmServerConfig *cfg);

#endif /* DM_SERVER_H */
