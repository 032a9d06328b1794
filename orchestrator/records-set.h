/*
 * dm-orchestrator: the handlers' writes of the platforms, VMs and
 * devices, placements and routes in one place, by names and documents,
 * each its store layer's call (store-vms.h, store-platforms.h,
 * store-placements.h, store-routes.h; docs/scale-out.md, "The next
 * step": step 3, the tables no longer written).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_RECORDS_SET_H
#define ORCH_RECORDS_SET_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "records-bind.h"

/*
 * Each write goes into the view of this thread's section (records-bind.h:
 * a request's, reconciliation's), committed at the section's end; a
 * write outside any section commits a view of its own at once.  Without
 * a store (orch_rec_twin_open not called) every write fails.
 */

/*
 * Write VM document @doc's "state", "client" (a platform's name, or
 * null), "hypervisor" and "saved_file" over VM "name"'s
 * (store-vms.h's orch_vm_doc_update), the client checked to exist.
 * NOT_FOUND if there is no such VM or platform.
 */
bool orch_rec_vm_update(JsonObject *doc, GError **errp);
/*
 * Create the VM of document @doc (store-vms.h's shape, its devices'
 * "server" and "via" platforms' names): orch_vm_doc_create, whose
 * checks the caller made.
 */
bool orch_rec_vm_create(JsonObject *doc, GError **errp);
/* Remove VM @name with its devices: orch_vm_doc_remove. */
bool orch_rec_vm_remove(const char *name, GError **errp);
/*
 * Add the platform of document @doc (store-platforms.h's shape, made by
 * orch_platform_doc_new): orch_platform_add_doc, whose name check
 * the caller made.
 */
bool orch_rec_platform_add(JsonObject *doc, GError **errp);
/*
 * Write platform document @doc's "model_tls" and its models' "bus" and
 * "props" over platform "name"'s (a model it no longer lists is kept):
 * orch_platform_update_doc.
 */
bool orch_rec_platform_update(JsonObject *doc, GError **errp);
/*
 * Remove platform @name, the VMs naming it as their client forgetting
 * it: orch_platform_remove_doc, whose checks the caller made.
 */
bool orch_rec_platform_remove(const char *name, GError **errp);
/*
 * Delete every placement of VM @vm (their instances are the caller's to
 * delete first): orch_placement_release for each device.
 */
bool orch_rec_placements_delete(const char *vm, GError **errp);
/*
 * Device @dev of VM @vm claims a slot on server @server before its
 * launch: its placement in state "launching" with instance @instance
 * and @token, no address yet (store-placements.h's
 * orch_placement_claim), the server chosen by the caller.  NOT_FOUND if
 * the device or the server is unknown.
 */
bool orch_rec_placement_claim(const char *vm, const char *dev,
                              const char *server, const char *instance,
                              const char *token, GError **errp);
/*
 * Free device @dev of VM @vm's placement
 * (orch_placement_release).  NOT_FOUND if it has none.
 */
bool orch_rec_placement_delete(const char *vm, const char *dev,
                               GError **errp);
/* The launcher's answer: orch_placement_launched. */
bool orch_rec_placement_launched(const char *vm,
                                 const char *dev, const char *address,
                                 const char *console, const char *state,
                                 GError **errp);
/*
 * Route @id, whose owner's router is at @address, for device @dev of VM
 * @vm's placement: store-routes.h's orch_route_doc_set.
 */
bool orch_rec_route_set(const char *vm, const char *dev,
                        const char *id, const char *address, GError **errp);

#endif /* ORCH_RECORDS_SET_H */
