/*
 * dm-orchestrator: the handlers' writes of the tables by names and
 * documents (records-set.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "db.h"
#include "error.h"
#include "records.h"
#include "records-set.h"

bool orch_rec_vm_update(sqlite3 *db, JsonObject *doc, GError **errp)
{
    const char *name = orch_rec_str(doc, "name");
    const char *client = orch_rec_str(doc, "client");

    if (client && orch_db_int(db, 0, "SELECT count(*) FROM platforms"
                              " WHERE name = ?", "s", client) != 1) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND,
                    "no platform '%s'", client);
        return false;
    }
    if (!orch_db_run(db, errp, "UPDATE vms SET state = ?, client_id ="
                     " (SELECT id FROM platforms WHERE name = ?),"
                     " hypervisor = ?, saved_file = ? WHERE name = ?",
                     "sssss", orch_rec_str(doc, "state"), client,
                     orch_rec_str(doc, "hypervisor"),
                     orch_rec_str(doc, "saved_file"), name)) {
        return false;
    }
    if (sqlite3_changes(db) != 1) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND, "no VM '%s'",
                    name);
        return false;
    }
    return true;
}

bool orch_rec_placements_delete(sqlite3 *db, const char *vm, GError **errp)
{
    return orch_db_run(db, errp, "DELETE FROM placements WHERE device_id IN"
                       " (SELECT d.id FROM devices d JOIN vms v"
                       " ON v.id = d.vm_id WHERE v.name = ?)", "s", vm);
}
