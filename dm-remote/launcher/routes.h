/*
 * Server role: routes of the owner server (/v1/routes) and its router,
 * a `dm-remote route --routes-file STATE/routes` child.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_ROUTES_H
#define DM_ROUTES_H

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "launcher.h"

void dm_routes_init(DmDaemon *d);
void dm_routes_free(DmDaemon *d);

/* Add "router" (its address or null) to GET /v1/health. */
void dm_routes_health(DmDaemon *d, JsonObject *health);

/* /v1/routes (@id NULL) and /v1/routes/ID. */
void dm_routes_handle(DmDaemon *d, SoupServerMessage *msg, const char *id);

/*
 * Shutdown: answer waiting POSTs, remove the routes file, stop the
 * router; dm_daemon_maybe_quit() once it is gone.
 */
void dm_routes_stop_all(DmDaemon *d);

/* 1 while a router process is known (running or being stopped). */
unsigned dm_routes_live(DmDaemon *d);

#endif /* DM_ROUTES_H */
