/*
 * Helpers shared by qemu-dm's qtests: start and stop a dm-remote device
 * model, and wait for asynchronous events with a bound.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_QTEST_UTIL_H
#define DM_QTEST_UTIL_H

#include "libqtest.h"

typedef struct DmRemote {
    GPid pid;
    char *dir;                  /* private directory for the socket */
    char *socket_path;
    char *listen;               /* what dm-remote listens on */
    char *connect;              /* what clients connect to (a relay?) */
    GPid relay_pid;
    char *model;
    char **extra_args;
    bool is_qemu;               /* a QEMU x-vfio-user-server */
} DmRemote;

/*
 * Start "dm-remote serve --model MODEL" on a fresh UNIX socket, with
 * @extra_args (NULL-terminated, may be NULL), and wait until it listens.
 * The binary comes from $DM_REMOTE; the test fails without it.
 */
DmRemote *dm_remote_start(const char *model, const char *const *extra_args);

/*
 * Start QEMU itself as the device's server: upstream's x-remote machine
 * with x-vfio-user-server hosting "-device @device".
 */
DmRemote *dm_qemu_server_start(const char *device);

/*
 * The same model listening on TCP loopback, tcp:127.0.0.1:PORT.  With
 * $DM_TCP_DELAY_MS set, clients reach it through tests/net/delay-relay.py
 * ($DM_DELAY_RELAY), which delays each direction by that much.
 */
DmRemote *dm_remote_start_tcp(const char *model,
                              const char *const *extra_args);

/* SIGTERM, wait for it (bounded), check that its socket file is gone. */
void dm_remote_stop(DmRemote *r);

/* SIGKILL: the model dies without a word (dm_remote_stop still frees). */
void dm_remote_kill(DmRemote *r);

/* Start a killed model again, on the same socket. */
void dm_remote_restart(DmRemote *r);

/* SIGSTOP / SIGCONT: a model that stops answering, then resumes. */
void dm_remote_pause(DmRemote *r, bool pause);

/* Is $DM_REMOTE set to an executable? */
bool dm_remote_available(void);

/* Poll @cond every millisecond, for at most 10 s of real time. */
#define DM_WAIT_UNTIL(cond) \
    do { \
        gint64 deadline_ = g_get_monotonic_time() + 10 * G_USEC_PER_SEC; \
        while (!(cond) && g_get_monotonic_time() < deadline_) { \
            g_usleep(1000); \
        } \
    } while (0)

#endif /* DM_QTEST_UTIL_H */
