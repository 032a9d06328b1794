/*
 * dm-orchestrator: the handlers' reads of the identifier tables in one
 * place, each answering a document of the store's key layout
 * (docs/scale-out.md): a VM with its devices (store-vms.h's shape), a
 * device's placement (store-placements.h's), a platform
 * (store-platforms.h's).  References are names, never the tables' ids.
 *
 * A thread with a store view bound (records-bind.h) reads them through
 * it (records-view.h): the store is their truth (docs/scale-out.md, step
 * 3 of "The next step").  Any other reads the SQLite tables, no longer
 * written (records-set.h writes the store): what store-import.c does,
 * unbinding first, to copy a database of an older orchestrator into the
 * store.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_RECORDS_H
#define ORCH_RECORDS_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <sqlite3.h>

/*
 * VM @name: {"name", "uuid", "memory", "kernel", "initrd", "append",
 * "state", "client", "hypervisor", "extra_args", "saved_file", "boot",
 * "devices": [{"name", "model", "bus", "server", "via", "restart",
 * "console" (a boolean), "props"}, ...]} with the devices in the order
 * they were created; absent members are null.  NULL if there is none.
 */
JsonObject *orch_rec_vm(sqlite3 *db, const char *name);
/* Device @name of VM document @vm (not a new reference), or NULL. */
JsonObject *orch_rec_device(JsonObject *vm, const char *name);
/* Every VM's name, in name order. */
GPtrArray *orch_rec_vm_names(sqlite3 *db);
/*
 * Device @dev of VM @vm's placement: {"instance", "server", "address",
 * "token", "console", "state", "route_id", "route_address"}; "address"
 * is "" while its launch is under way.  NULL if it has none.
 */
JsonObject *orch_rec_placement(sqlite3 *db, const char *vm, const char *dev);
/*
 * The VM and device instance @instance serves, as {"vm", "device"} (on
 * the store, "instances/INSTANCE"); NULL if no placement names it.
 */
JsonObject *orch_rec_instance(sqlite3 *db, const char *instance);
/*
 * The VM and device route @id leads to, as {"vm", "device"} (on the
 * store, "routes/ID"); NULL if no placement holds it.
 */
JsonObject *orch_rec_route(sqlite3 *db, const char *id);
/* The name of the VM whose UUID is @uuid ("uuids/UUID"), or NULL. */
char *orch_rec_vm_by_uuid(sqlite3 *db, const char *uuid);
/*
 * Platform @name: {"name", "role", "address", "capacity", "hypervisor",
 * "model_tls" (a boolean), "models": [{"model", "bus", "props"}, ...]}.
 * NULL if there is none.
 */
JsonObject *orch_rec_platform(sqlite3 *db, const char *name);
/* Every platform's name, in name order. */
GPtrArray *orch_rec_platform_names(sqlite3 *db);
/*
 * Every platform's document, in name order (JsonObject, freed with the
 * array): what catalogue.h's *_in functions take.
 */
GPtrArray *orch_rec_platforms(sqlite3 *db);

/*
 * How many models are placed on server @server (on the store, its
 * "load/SERVER" document: store-load.h).
 */
gint64 orch_rec_server_used(sqlite3 *db, const char *server);
/*
 * How many VMs hold a QEMU on client @client (running, suspended or
 * migrating; on the store, a pass over the VMs' documents).
 */
gint64 orch_rec_client_running(sqlite3 *db, const char *client);

/* Member @member of @o as a string, NULL if absent or not one. */
const char *orch_rec_str(JsonObject *o, const char *member);

#endif /* ORCH_RECORDS_H */
