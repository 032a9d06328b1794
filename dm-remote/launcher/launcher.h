/*
 * dm-remote daemon: the context every part of the launcher shares,
 * whatever its role.  The role's own state is its modules': DmServer
 * (instance.h: models, the router and routes) or DmClient (vm.h: VMs).
 *
 * Everything here is owned by the daemon's one GMainLoop thread: the HTTP
 * handlers, child watches and timers all run there, so nothing is locked.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_LAUNCHER_H
#define DM_LAUNCHER_H

#include <stdbool.h>

#include <glib.h>

#include "vup/address.h"      /* ids follow vup_name_valid */

typedef enum DmRole {
    DM_ROLE_SERVER,
    DM_ROLE_CLIENT,
} DmRole;

typedef struct DmLauncher {
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
    /*
     * Ids of children the API forgot but that are not reaped yet: an id
     * is not reused before its sockets and files are gone (child.c).
     */
    GHashTable *dying;
    bool stopping;              /* SIGTERM seen: no new launches */
    /*
     * Set by daemon.c: a child is gone (freed), told by child.c.  At
     * shutdown the last one's quits the main loop; the modules below
     * the daemon tell it rather than call it.
     */
    void (*child_gone)(void *opaque);
    void *child_gone_opaque;
} DmLauncher;

#endif /* DM_LAUNCHER_H */
