/*
 * dm-orchestrator: the documents records.h answers, read through a store
 * view (store-view.h) under @root instead of from the SQLite tables: the
 * first half of the switch (docs/scale-out.md, "The next step"), each
 * function the twin of records.h's of the same name with the view in
 * place of the database.  When the handlers move onto the store they
 * call these with their request's view (orch_request_view), and the
 * tables' versions go.
 *
 * Every read is remembered by the view (its commit then holds only if
 * what was read is unchanged), except orch_recv_client_running's, a
 * count for a choice that must not make two starts conflict (below).
 * A store that fails sets *@errp and answers as for an absent document
 * (NULL, or an empty list, or 0); @errp may be NULL.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_RECORDS_VIEW_H
#define ORCH_RECORDS_VIEW_H

#include <glib.h>
#include <json-glib/json-glib.h>

#include "store-view.h"

/* VM @name, as orch_rec_vm; NULL if there is none. */
JsonObject *orch_recv_vm(OrchStoreView *v, const char *root,
                         const char *name, GError **errp);
/* Every VM's name, in name order. */
GPtrArray *orch_recv_vm_names(OrchStoreView *v, const char *root,
                              GError **errp);
/* Device @dev of VM @vm's placement, as orch_rec_placement, or NULL. */
JsonObject *orch_recv_placement(OrchStoreView *v, const char *root,
                                const char *vm, const char *dev,
                                GError **errp);
/* {"vm", "device"} instance @instance serves ("instances/I"), or NULL. */
JsonObject *orch_recv_instance(OrchStoreView *v, const char *root,
                               const char *instance, GError **errp);
/* {"vm", "device"} route @id leads to ("routes/ID"), or NULL. */
JsonObject *orch_recv_route(OrchStoreView *v, const char *root,
                            const char *id, GError **errp);
/* The name of the VM whose UUID is @uuid ("uuids/UUID"), or NULL. */
char *orch_recv_vm_by_uuid(OrchStoreView *v, const char *root,
                           const char *uuid, GError **errp);
/* Platform @name, as orch_rec_platform, or NULL. */
JsonObject *orch_recv_platform(OrchStoreView *v, const char *root,
                               const char *name, GError **errp);
/* Every platform's name, in name order. */
GPtrArray *orch_recv_platform_names(OrchStoreView *v, const char *root,
                                    GError **errp);
/* Every platform's document, in name order (JsonObject). */
GPtrArray *orch_recv_platforms(OrchStoreView *v, const char *root,
                               GError **errp);
/* How many models are placed on @server: its "load/SERVER". */
gint64 orch_recv_server_used(OrchStoreView *v, const char *root,
                             const char *server, GError **errp);
/*
 * How many VMs hold a QEMU on client @client (running, suspended or
 * migrating).  Read from the store itself, not remembered (a VM this
 * view wrote counts as written): store-clients.h says why.
 */
gint64 orch_recv_client_running(OrchStoreView *v, const char *root,
                                const char *client, GError **errp);

#endif /* ORCH_RECORDS_VIEW_H */
