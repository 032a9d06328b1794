/*
 * dm-orchestrator: /v1/vms (definitions), the consoles and /v1/dms
 * (vms.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_VMS_H
#define ORCH_VMS_H

#include "request.h"

int orch_vm_list(OrchRequest *r);
int orch_vm_get(OrchRequest *r);
int orch_vm_create(OrchRequest *r);
int orch_vm_remove(OrchRequest *r);
int orch_vm_console(OrchRequest *r);
int orch_dm_list(OrchRequest *r);

#endif /* ORCH_VMS_H */
