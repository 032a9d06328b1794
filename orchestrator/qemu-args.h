/*
 * dm-orchestrator: QEMU's command line for a VM whose devices have been
 * placed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_QEMU_ARGS_H
#define ORCH_QEMU_ARGS_H

#include "orch.h"

/*
 * The "args" and "files" of the client launcher's POST /v1/vms for VM
 * @name on client platform @client with hypervisor @hypervisor.  Each
 * device's token is a file (@STATE@/NAME.tokN), never an argument.
 */
int orch_qemu_args(sqlite3 *db, const char *name, const char *client,
                   const char *hypervisor, JsonArray **ret_args,
                   JsonObject **ret_files);

#endif /* ORCH_QEMU_ARGS_H */
