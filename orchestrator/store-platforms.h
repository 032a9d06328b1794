/*
 * dm-orchestrator: the platforms as documents on the store, read and
 * written whole through a request's view (store-view.h): ROOT
 * "platforms/NAME" holds {"name", "role", "address", "capacity",
 * "hypervisor", "model_tls", "models"} as store-import.c writes it
 * (docs/scale-out.md, the key layout; the models as catalogue.h's
 * orch_catalogue_doc_models makes them).
 *
 * The per-object layer the platforms' handlers move onto, with the VMs
 * and placements (docs/scale-out.md, "Why the platforms did not move
 * alone"): not used by them yet.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_STORE_PLATFORMS_H
#define ORCH_STORE_PLATFORMS_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "store-view.h"

/*
 * A platform's document: a server's models from its launcher's @health
 * (those in @chosen, NULL: all it declares; CONFLICT if it does not
 * declare one), none for a client; "model_tls" from @health too.
 */
JsonObject *orch_platform_doc_new(const char *name, const char *role,
                                  const char *address, gint64 capacity,
                                  const char *hypervisor, JsonObject *health,
                                  JsonArray *chosen, GError **errp);

/*
 * Whether platform document @p's launcher lost its registration in etcd
 * (registrations.h): nothing new is placed or run there.
 */
bool orch_platform_doc_lost(JsonObject *p);
/* The refusal's words for a lost platform @name (a new string). */
char *orch_platform_lost_why(const char *name);

/* Platform @name as @v sees it: true with *@ret (NULL if absent). */
bool orch_platform_read(OrchStoreView *v, const char *root,
                        const char *name, JsonObject **ret, GError **errp);
/*
 * Every platform, in name order (JsonObject, freed with the array); the
 * commit is then conditioned on none added, changed or removed.  NULL if
 * the store failed.
 */
GPtrArray *orch_platform_read_all(OrchStoreView *v, const char *root,
                                  GError **errp);
/* Add @doc (its "name"): CONFLICT "platform 'NAME' exists" if it does. */
bool orch_platform_add_doc(OrchStoreView *v, const char *root,
                           JsonObject *doc, GError **errp);
/* Write @doc over platform "name"'s (it must exist: NOT_FOUND). */
bool orch_platform_update_doc(OrchStoreView *v, const char *root,
                              JsonObject *doc, GError **errp);
/*
 * Delete platform @name's document and its load, nothing checked: what
 * may refer to it is checked above (store-platform-remove.h).
 */
void orch_platform_delete_doc(OrchStoreView *v, const char *root,
                              const char *name);

#endif /* ORCH_STORE_PLATFORMS_H */
