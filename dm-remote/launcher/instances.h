/*
 * Server role: device-model instances (`dm-remote serve` children), the
 * /v1/instances endpoints and the range of TCP ports.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_INSTANCES_H
#define DM_INSTANCES_H

#include <libsoup/soup.h>

#include "instance.h"

/* The table of instances; freed once every instance is gone. */
void dm_instances_init(DmServer *s);
void dm_instances_free(DmServer *s);

/* Add the server's members to GET /v1/health. */
void dm_instances_health(DmServer *s, JsonObject *health);

/* /v1/instances (@id NULL) and /v1/instances/ID. */
void dm_instances_handle(DmServer *s, SoupServerMessage *msg,
                         const char *id);

/*
 * A TCP port of the range that no instance (nor the router) has and
 * nothing else holds; -EADDRINUSE if none.
 */
int dm_instances_pick_port(DmServer *s, unsigned *ret_port);

/*
 * Shutdown: stop every model.  Each one gone tells the launcher's
 * child_gone hook; the daemon quits once dm_instances_live() is 0.
 */
void dm_instances_stop_all(DmServer *s);
unsigned dm_instances_live(DmServer *s);

/*
 * At start: adopt the instances an earlier launcher left running
 * (record.h), forget the records of those that are gone.
 */
void dm_instances_adopt_all(DmServer *s);

#endif /* DM_INSTANCES_H */
