/*
 * Server role: the routes of the owner server (/v1/routes) and its
 * router, a `dm-remote route --routes-file STATE/routes` child: the API
 * over route-list.h (the table, the file) and router.h (the child).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_ROUTES_H
#define DM_ROUTES_H

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "instance.h"

/* The table and the router's queue; freed once the router is gone. */
void dm_routes_init(DmServer *s);
void dm_routes_free(DmServer *s);

/* Add "router" (its address or null) to GET /v1/health. */
void dm_routes_health(DmServer *s, JsonObject *health);

/* /v1/routes (@id NULL) and /v1/routes/ID. */
void dm_routes_handle(DmServer *s, SoupServerMessage *msg, const char *id);

/*
 * Shutdown: answer waiting POSTs, remove the routes file, stop the
 * router (once gone, it tells the launcher's child_gone hook).
 */
void dm_routes_stop_all(DmServer *s);

/* 1 while a router process is known (running or being stopped). */
unsigned dm_routes_live(DmServer *s);

#endif /* DM_ROUTES_H */
