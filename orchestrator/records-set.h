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

/*
 * Write VM document @doc's "state", "client" (a platform's name, or
 * null), "hypervisor" and "saved_file" over VM "name"'s: the twin of
 * store-vms.h's orch_vm_doc_update.  NOT_FOUND if there is no such VM.
 */
bool orch_rec_vm_update(sqlite3 *db, JsonObject *doc, GError **errp);
/*
 * Delete every placement of VM @vm (their instances are the caller's to
 * delete first): the twin of orch_placement_release for each device.
 */
bool orch_rec_placements_delete(sqlite3 *db, const char *vm, GError **errp);

#endif /* ORCH_RECORDS_SET_H */
