/*
 * Server role: the routes of the owner server (s->routes, in the order
 * added) and STATE/routes, the file its router reads them from.  Below
 * router.c (the router child) and routes.c (/v1/routes); it calls only
 * instance.c, to rewrite the router's record with the table.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_ROUTE_LIST_H
#define DM_ROUTE_LIST_H

#include <json-glib/json-glib.h>

#include "instance.h"

#define DM_ROUTES_MAX 1024

typedef struct DmRouteEntry {
    char *id;
    char *device_model;
    char *vm;                   /* NULL: any VM */
    char *target;               /* tcp:HOST:PORT or unix:PATH */
} DmRouteEntry;

/* A new entry, copies of its members (@vm may be NULL). */
DmRouteEntry *dm_route_entry_new(const char *id, const char *device_model,
                                 const char *vm, const char *target);
void dm_route_entry_free(DmRouteEntry *e);

/* The entry as a line of the router's --route syntax (to free). */
char *dm_route_line(const DmRouteEntry *e);

/* Spaces and control characters cannot survive a line of the file. */
bool dm_route_target_bad_char(const char *target);

/* The table (empty); freed with its entries. */
void dm_route_list_init(DmServer *s);
void dm_route_list_free(DmServer *s);

/* STATE/routes (to free). */
char *dm_route_list_file(DmServer *s);

/* The router's address, or NULL while there is none. */
const char *dm_route_list_address(DmServer *s);

JsonObject *dm_route_json(DmServer *s, const DmRouteEntry *e);

/* The index of route @id, or -1. */
int dm_route_list_find(DmServer *s, const char *id);

/* The route that already takes sessions of @e's (device model, vm). */
DmRouteEntry *dm_route_list_same_pair(DmServer *s, const DmRouteEntry *e);

/*
 * The table changed: rewrite the file and the router's record.  0 or
 * -errno with a reason in *@ret_err.
 */
int dm_route_list_save(DmServer *s, char **ret_err);

/* Take @e out of the table and the file (a failure is logged), free it. */
void dm_route_list_drop(DmServer *s, DmRouteEntry *e);

/* The table from the router's record (bad entries are skipped). */
void dm_route_list_restore(DmServer *s, JsonArray *arr);

#endif /* DM_ROUTE_LIST_H */
