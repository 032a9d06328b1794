/*
 * Server role: the router child and the routes it serves, as shared by
 * routes.c (the API, the table, the routes file) and router.c (the
 * `dm-remote route` process and the POSTs waiting for it).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_ROUTER_H
#define DM_ROUTER_H

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "instance.h"

typedef struct DmRouteEntry {
    char *id;
    char *device_model;
    char *vm;                   /* NULL: any VM */
    char *target;               /* tcp:HOST:PORT or unix:PATH */
} DmRouteEntry;

/* routes.c */
char *dm_routes_file(DmServer *s);
JsonObject *dm_route_json(DmServer *s, const DmRouteEntry *e);

/* Take @e out of the table and the file (a failure is logged), free it. */
void dm_routes_drop(DmServer *s, DmRouteEntry *e);

/* The table from the router's record (bad entries are skipped). */
void dm_routes_restore(DmServer *s, JsonArray *arr);

/* router.c */

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
