/*
 * dm-orchestrator: live migration of a VM to another client platform
 * (migrate.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_MIGRATE_H
#define ORCH_MIGRATE_H

#include "request.h"

int orch_vm_migrate(OrchRequest *r);

#endif /* ORCH_MIGRATE_H */
