/*
 * dm-orchestrator: saving a VM to a file and restoring it (save.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_SAVE_H
#define ORCH_SAVE_H

#include "request.h"

extern char *orch_save_dir;     /* default directory of saved VMs */
int orch_vm_save(OrchRequest *r);
int orch_vm_restore(OrchRequest *r);

#endif /* ORCH_SAVE_H */
