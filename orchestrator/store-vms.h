/*
 * dm-orchestrator: the VMs as documents on the store, read and written
 * whole through a request's view (store-view.h), as store-import.c
 * writes them (docs/scale-out.md, the key layout):
 *
 *   ROOT "vms/NAME"    {"name", "uuid", "memory", "kernel", "initrd",
 *                       "append", "extra_args", "boot", "state",
 *                       "client", "hypervisor", "saved_file",
 *                       "devices": [{"name", "model", "bus", "server",
 *                                    "via", "restart", "console",
 *                                    "props"}, ...]}
 *   ROOT "uuids/UUID"  {"vm": NAME}: a UUID is unique
 *
 * References are names (a device's "server" and "via", the VM's
 * "client"), not the tables' ids.  A create reads its name, its UUID and
 * every platform its devices name through the view, so its commit fails
 * (409, nothing written) if another request took the name or the UUID,
 * or removed such a platform, meanwhile.  An update is conditioned on
 * the document's mod_rev as the view first read it: of two requests that
 * read one VM and write it (two migrations, a start and a stop), the
 * second commit is 409.  A removal frees the UUID in the same commit and
 * is refused while the VM holds placements (store-placements.h).
 *
 * The per-object layer vms.c, vm.c, lifecycle.c, migrate.c and save.c
 * move onto with the platforms and placements (docs/scale-out.md, "Why
 * the platforms did not move alone"): not used by the handlers yet.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_STORE_VMS_H
#define ORCH_STORE_VMS_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "store-view.h"

/*
 * A new VM's document: @name, @uuid, @memory, state "defined", no
 * client, kernel, initrd, append, boot, hypervisor or saved file, no
 * extra arguments and no devices.  The caller sets what its request
 * gives.
 */
JsonObject *orch_vm_doc_new(const char *name, const char *uuid,
                            const char *memory);
/*
 * Add a device to VM document @doc: @server and @via name server
 * platforms or are NULL; @props (taken, NULL: none) an object.
 */
void orch_vm_doc_add_device(JsonObject *doc, const char *name,
                            const char *model, const char *bus,
                            const char *server, const char *via,
                            const char *restart, bool console,
                            JsonObject *props);
/* Device @name of VM document @doc (not a new reference), or NULL. */
JsonObject *orch_vm_doc_device(JsonObject *doc, const char *name);

/*
 * Create the VM of @doc (its "name" and "uuid"): CONFLICT if the name
 * or the UUID is taken, NOT_FOUND or BAD_REQUEST if a device names an
 * absent platform or a client one (the handlers' messages), BAD_REQUEST
 * for a device named twice.
 */
bool orch_vm_doc_create(OrchStoreView *v, const char *root, JsonObject *doc,
                        GError **errp);
/* VM @name as @v sees it: true with *@ret (NULL if absent). */
bool orch_vm_doc_read(OrchStoreView *v, const char *root, const char *name,
                      JsonObject **ret, GError **errp);
/*
 * The VM whose UUID is @uuid, as @v sees it: true with *@ret (a new
 * string, NULL if none).
 */
bool orch_vm_doc_by_uuid(OrchStoreView *v, const char *root,
                         const char *uuid, char **ret, GError **errp);
/*
 * Every VM, in name order (JsonObject, freed with the array); the commit
 * is then conditioned on none added, changed or removed.  NULL if the
 * store failed.
 */
GPtrArray *orch_vm_doc_read_all(OrchStoreView *v, const char *root,
                                GError **errp);
/*
 * Write @doc over VM "name"'s: NOT_FOUND if it does not exist; its UUID
 * cannot change (INTERNAL).  The commit holds only if the document is
 * still at the revision @v first read.
 */
bool orch_vm_doc_update(OrchStoreView *v, const char *root, JsonObject *doc,
                        GError **errp);
/*
 * Remove VM @name and free its UUID: NOT_FOUND if absent, CONFLICT if it
 * holds placements (conditioned on their absence under its prefix).
 */
bool orch_vm_doc_remove(OrchStoreView *v, const char *root,
                        const char *name, GError **errp);

/*
 * Platform @name is to be removed (store-platforms.h): CONFLICT if a
 * VM runs on it ("client", in state running, suspended or migrating),
 * or a device is pinned to it ("server") or reaches its model through it
 * ("via"), the handlers' messages; else every other VM naming it as its
 * client forgets it, in @v.  Every VM is listed through @v: a VM created,
 * started or changed meanwhile fails the commit (409), so no VM can be
 * left naming a platform that is gone.  The price, for a removal (an
 * administrator's rare act): under a stream of VM changes it may have to
 * be retried.
 */
bool orch_vm_doc_release_platform(OrchStoreView *v, const char *root,
                                  const char *name, GError **errp);

#endif /* ORCH_STORE_VMS_H */
