/*
 * dm-remote daemon: state shared by the launcher's files.
 *
 * Everything here is owned by the daemon's one GMainLoop thread: the HTTP
 * handlers, child watches and timers all run there, so nothing is locked.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_LAUNCHER_H
#define DM_LAUNCHER_H

#include <stdbool.h>
#include <sys/socket.h>

#include <glib.h>

#include "vup/address.h"      /* ids follow vup_name_valid */

typedef enum DmRole {
    DM_ROLE_SERVER,
    DM_ROLE_CLIENT,
} DmRole;

typedef struct DmDaemon {
    DmRole role;
    const char *platform_id;
    const char *state_dir;
    const char *self_exe;       /* dm-remote itself, for `serve` */
    unsigned capacity;
    /*
     * --model-tls-creds, absolute: the server's credentials for its TCP
     * models, or the client's for its QEMUs' sessions.  NULL: plain TCP.
     */
    const char *model_tls_creds;

    /* server role */
    char **models;              /* the models this platform offers */
    const char *model_host;     /* as given, for addresses */
    struct sockaddr_storage model_addr;     /* resolved, port 0 */
    socklen_t model_addrlen;
    unsigned port_lo, port_hi;
    GHashTable *instances;      /* id -> DmInstance */
    GPtrArray *routes;          /* DmRouteEntry, in the order added */
    struct DmInstance *router;  /* `dm-remote route`, NULL: none yet */
    GQueue *route_waiting;      /* POSTs waiting for the router */

    /* client role */
    const char *qemu;
    char *save_dir;             /* absolute: the only home of file: URIs */
    GHashTable *vms;            /* id -> DmVm */

    /*
     * Ids of children the API forgot but that are not reaped yet: an id
     * is not reused before its sockets and files are gone.
     */
    GHashTable *dying;
    bool stopping;              /* SIGTERM seen: no new launches */
    GMainLoop *loop;
} DmDaemon;

/* Called by the role modules when their last child is gone at shutdown. */
void dm_daemon_maybe_quit(DmDaemon *d);

#endif /* DM_LAUNCHER_H */
