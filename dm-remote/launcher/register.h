/*
 * The launcher's registration in etcd (docs/scale-out.md): the key
 * PREFIX/PLATFORM holds what the launcher is (platform, role, address,
 * capacity) under a lease that a thread of its own renews at a third of
 * its TTL, so that orchestrators notice a launcher that vanished when its
 * key expires, without polling every launcher.  A lease etcd says has
 * expired is replaced and the key put again; a clean stop revokes the
 * lease (the key goes at once).  Calls to etcd never run on the main
 * loop: a slow or unreachable etcd does not hold the API up.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_REGISTER_H
#define DM_REGISTER_H

#include <stdbool.h>
#include <glib.h>

#define DM_REGISTER_PREFIX "/dm/launchers/"

typedef struct DmRegister DmRegister;

/*
 * Register @platform with the JSON text @value, under a lease of @ttl
 * seconds, in the etcd at @endpoints ("URL[,URL...]").  NULL with a
 * reason if @endpoints is malformed; etcd itself is reached (and reached
 * again) by the thread, which logs its failures.
 */
DmRegister *dm_register_start(const char *endpoints, const char *platform,
                              const char *value, gint64 ttl, GError **errp);
/* Stop renewing, revoke the lease, and free @r. */
void dm_register_stop(DmRegister *r);

#endif /* DM_REGISTER_H */
