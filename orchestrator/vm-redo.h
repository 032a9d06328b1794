/*
 * dm-orchestrator: a VM's writes made again past a launcher change that
 * cannot be undone (request.h's orch_request_redo): a conflict at the
 * commit then writes them again on fresh reads instead of answering 409
 * with the change made and unrecorded.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_VM_REDO_H
#define ORCH_VM_REDO_H

#include "request.h"

/*
 * Members of VM @name set again: MEMBER, VALUE pairs ending with NULL; a
 * NULL VALUE is JSON null (orch_vm_write's arguments).
 */
void orch_vm_redo_members(OrchRequest *r, const char *name, ...)
    G_GNUC_NULL_TERMINATED;
/* VM @name stopped again: its placements deleted, "stopped" written. */
void orch_vm_redo_teardown(OrchRequest *r, const char *name);

#endif /* ORCH_VM_REDO_H */
