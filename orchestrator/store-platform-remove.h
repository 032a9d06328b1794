/*
 * dm-orchestrator: a platform's removal on the store, checked against
 * what refers to it (its load, the VMs' documents).  A layer above
 * store-platforms.h and store-vms.h: the VMs' documents read the
 * platforms (a pinned device's platform), so the platforms' own file
 * cannot read the VMs back.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_STORE_PLATFORM_REMOVE_H
#define ORCH_STORE_PLATFORM_REMOVE_H

#include <glib.h>

#include "store-view.h"

/*
 * Remove platform @name: NOT_FOUND if absent, CONFLICT if models are
 * placed on it (its load, store-load.h), conditioned on that load, or if
 * a VM's device or a running VM names it (store-vms.h's
 * orch_vm_doc_release_platform, which also clears it as the client of
 * the VMs that are not running).
 */
bool orch_platform_remove_doc(OrchStoreView *v, const char *root,
                              const char *name, GError **errp);

#endif /* ORCH_STORE_PLATFORM_REMOVE_H */
