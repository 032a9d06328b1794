/*
 * dm-orchestrator: the handlers' writes of the identifier tables in one
 * place, by names and documents as the store layers take them (the
 * twin of records.h for the writes; docs/scale-out.md, "The next
 * step"): the handlers hold no row id for them, and at the switch each
 * becomes its store layer's call on the request's view.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_RECORDS_SET_H
#define ORCH_RECORDS_SET_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <sqlite3.h>

#include "records-bind.h"

/*
 * Step 1 of the switch (docs/scale-out.md, "The next step"): each write
 * below also does its store layer's twin, so that the store's documents
 * stay equal to the tables while both are kept (the handlers read the
 * store since step 2).  The twin goes into the view of this thread's
 * section (records-bind.h: a request's, reconciliation's), committed
 * with it after the SQL COMMIT; a write outside any section commits a
 * view of its own at once.  A twin the store refuses fails the write (the
 * tables and the store disagree: the request rolls back).  Without
 * orch_rec_twin_open (the tests of the tables alone) there is no twin.
 *
 * The store and the views: records-bind.h.
 */

/*
 * Write VM document @doc's "state", "client" (a platform's name, or
 * null), "hypervisor" and "saved_file" over VM "name"'s: the twin of
 * store-vms.h's orch_vm_doc_update.  NOT_FOUND if there is no such VM.
 */
bool orch_rec_vm_update(sqlite3 *db, JsonObject *doc, GError **errp);
/*
 * Create the VM of document @doc (store-vms.h's shape, its devices'
 * "server" and "via" platforms' names): the twin of orch_vm_doc_create,
 * whose checks the caller made.
 */
bool orch_rec_vm_create(sqlite3 *db, JsonObject *doc, GError **errp);
/* Remove VM @name with its devices: the twin of orch_vm_doc_remove. */
bool orch_rec_vm_remove(sqlite3 *db, const char *name, GError **errp);
/*
 * Add the platform of document @doc (store-platforms.h's shape, made by
 * orch_platform_doc_new): the twin of orch_platform_add_doc, whose name
 * check the caller made.
 */
bool orch_rec_platform_add(sqlite3 *db, JsonObject *doc, GError **errp);
/*
 * Write platform document @doc's "model_tls" and its models' "bus" and
 * "props" over platform "name"'s (a model it no longer lists is kept):
 * the twin of orch_platform_update_doc.
 */
bool orch_rec_platform_update(sqlite3 *db, JsonObject *doc, GError **errp);
/*
 * Remove platform @name, the VMs naming it as their client forgetting
 * it: the twin of orch_platform_remove_doc, whose checks the caller made.
 */
bool orch_rec_platform_remove(sqlite3 *db, const char *name, GError **errp);
/*
 * Delete every placement of VM @vm (their instances are the caller's to
 * delete first): the twin of orch_placement_release for each device.
 */
bool orch_rec_placements_delete(sqlite3 *db, const char *vm, GError **errp);
/*
 * Device @dev of VM @vm claims a slot on server @server before its
 * launch: its placement in state "launching" with instance @instance
 * and @token, no address yet.  The twin of store-placements.h's
 * orch_placement_claim, the server chosen by the caller.  NOT_FOUND if
 * the device or the server is unknown.
 */
bool orch_rec_placement_claim(sqlite3 *db, const char *vm, const char *dev,
                              const char *server, const char *instance,
                              const char *token, GError **errp);
/*
 * Free device @dev of VM @vm's placement: the twin of
 * orch_placement_release.  NOT_FOUND if it has none.
 */
bool orch_rec_placement_delete(sqlite3 *db, const char *vm, const char *dev,
                               GError **errp);
/* The launcher's answer: the twin of orch_placement_launched. */
bool orch_rec_placement_launched(sqlite3 *db, const char *vm,
                                 const char *dev, const char *address,
                                 const char *console, const char *state,
                                 GError **errp);
/*
 * Route @id, whose owner's router is at @address, for device @dev of VM
 * @vm's placement: the twin of store-routes.h's orch_route_doc_set.
 */
bool orch_rec_route_set(sqlite3 *db, const char *vm, const char *dev,
                        const char *id, const char *address, GError **errp);

#endif /* ORCH_RECORDS_SET_H */
