/*
 * Client role: VMs (QEMU children) and the QMP relay.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_VMS_H
#define DM_VMS_H

#include <libsoup/soup.h>

#include "launcher.h"

void dm_vms_init(DmDaemon *d);

/* Add the client's members to GET /v1/health. */
void dm_vms_health(DmDaemon *d, JsonObject *health);

/* /v1/vms (@id NULL), /v1/vms/ID and /v1/vms/ID/@sub (qmp, events). */
void dm_vms_handle(DmDaemon *d, SoupServerMessage *msg, const char *id,
                   const char *sub);

/* Shutdown: stop every VM; dm_daemon_maybe_quit() once all are gone. */
void dm_vms_stop_all(DmDaemon *d);
unsigned dm_vms_live(DmDaemon *d);

/* At start: adopt the QEMUs an earlier launcher left running. */
void dm_vms_adopt_all(DmDaemon *d);

#endif /* DM_VMS_H */
