/*
 * Server role: the owner server's router (s->router), a `dm-remote
 * route` child, and the POSTs of routes waiting for it
 * (s->route_waiting).  Above the table (route-list.h), below the API
 * (routes.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_ROUTER_H
#define DM_ROUTER_H

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "route-list.h"

/* The queue of waiting POSTs (empty); freed once empty. */
void dm_router_init(DmServer *s);
void dm_router_free(DmServer *s);

/*
 * A router (not launched yet) on a free port of the range, as s->router;
 * -EADDRINUSE with a reason in *@ret_err if there is none.
 */
int dm_router_create(DmServer *s, char **ret_err);

/*
 * At start: the router an earlier launcher left running and its table,
 * from its record (record.h); a router that is gone is launched again
 * on its port if it had routes.
 */
void dm_router_adopt(DmServer *s);

/* Forget a router that dm_router_create() made but nobody launched. */
void dm_router_discard(DmServer *s);

/* Launch s->router; on failure it is freed and s->router NULL. */
int dm_router_launch(DmServer *s, char **ret_err);

/*
 * Answer a POST of @e: 201 once the router accepts connections (now, if
 * it does), 500 (and @e dropped) if it fails or is not there within
 * 10 s.
 */
void dm_router_answer(DmServer *s, SoupServerMessage *msg, DmRouteEntry *e);

/* @e is being deleted: a POST still waiting for it gets 409. */
void dm_router_cancel(DmServer *s, DmRouteEntry *e);

/* Shutdown: waiting POSTs get 503, the router is stopped. */
void dm_router_stop(DmServer *s);

/* The router as an instance object, or null. */
JsonNode *dm_router_json(DmServer *s);

#endif /* DM_ROUTER_H */
