/*
 * Server role: device-model instances (`dm-remote serve` children).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_INSTANCES_H
#define DM_INSTANCES_H

#include <libsoup/soup.h>

#include "launcher.h"

void dm_instances_init(DmDaemon *d);

/* Add the server's members to GET /v1/health. */
void dm_instances_health(DmDaemon *d, JsonObject *health);

/* /v1/instances (@id NULL) and /v1/instances/ID. */
void dm_instances_handle(DmDaemon *d, SoupServerMessage *msg,
                         const char *id);

/*
 * A TCP port of the range that no instance (nor the router) has and
 * nothing else holds; -EADDRINUSE if none.
 */
int dm_instances_pick_port(DmDaemon *d, unsigned *ret_port);

/* Shutdown: stop every model; dm_daemon_maybe_quit() once all are gone. */
void dm_instances_stop_all(DmDaemon *d);
unsigned dm_instances_live(DmDaemon *d);

/*
 * At start: adopt the instances an earlier launcher left running
 * (record.h), forget the records of those that are gone.
 */
void dm_instances_adopt_all(DmDaemon *d);

#endif /* DM_INSTANCES_H */
