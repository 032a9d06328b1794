/*
 * dm-orchestrator: starting, stopping, suspending and resuming VMs
 * (lifecycle.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_LIFECYCLE_H
#define ORCH_LIFECYCLE_H

#include "request.h"

int orch_vm_start(OrchRequest *r);
int orch_vm_stop(OrchRequest *r);
int orch_vm_suspend(OrchRequest *r);
int orch_vm_resume(OrchRequest *r);
/* POST /v1/vms/NAME/devices/DEV/link {"up": bool}: QMP set_link. */
int orch_vm_device_link(OrchRequest *r);

#endif /* ORCH_LIFECYCLE_H */
