/*
 * Client role: VMs (QEMU children) and the QMP relay.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_VMS_H
#define DM_VMS_H

#include <libsoup/soup.h>

#include "vm.h"

/* The table of VMs; freed once every VM is gone. */
void dm_vms_init(DmClient *c);
void dm_vms_free(DmClient *c);

/* Add the client's members to GET /v1/health. */
void dm_vms_health(DmClient *c, JsonObject *health);

/* /v1/vms (@id NULL), /v1/vms/ID and /v1/vms/ID/@sub (qmp, events). */
void dm_vms_handle(DmClient *c, SoupServerMessage *msg, const char *id,
                   const char *sub);

/*
 * Shutdown: stop every VM.  Each one gone tells the launcher's
 * child_gone hook; the daemon quits once dm_vms_live() is 0.
 */
void dm_vms_stop_all(DmClient *c);
unsigned dm_vms_live(DmClient *c);

/* At start: adopt the QEMUs an earlier launcher left running. */
void dm_vms_adopt_all(DmClient *c);

#endif /* DM_VMS_H */
