/*
 * dm-orchestrator: /v1/events and a VM's events (events.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_EVENTS_H
#define ORCH_EVENTS_H

#include "request.h"

int orch_event_list(OrchRequest *r);
int orch_vm_events(OrchRequest *r);

#endif /* ORCH_EVENTS_H */
