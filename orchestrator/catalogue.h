/*
 * dm-orchestrator: the device models the server platforms offer, as
 * their launchers declare them in /v1/health (name, bus in the guest,
 * properties).  Learned when a platform is added, refreshed when it is
 * reconciled; the orchestrator keeps no list of its own.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_CATALOGUE_H
#define ORCH_CATALOGUE_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>

/* The "models" of a launcher's @health: name -> its declaration. */
GHashTable *orch_catalogue_parse(JsonObject *health);


/*
 * A launcher's @health says "model_tls": true (false if absent or odd):
 * it gives its models TLS credentials (server) or its QEMUs the client's.
 */
bool orch_health_model_tls(JsonObject *health);

typedef struct OrchModelInfo {
    char bus[4];                /* "pci" or "isa" */
    bool console;               /* it has a "console" property */
} OrchModelInfo;

/*
 * The models on platform documents, as the store keeps them (ROOT
 * "platforms/NAME", docs/scale-out.md: "models" is an array of {"model",
 * "bus", "props"}) and records.h reads them.  @platforms is a GPtrArray
 * of those documents (JsonObject) in name order; @pinned a server's
 * name, or NULL.
 */
/* A server's "models" from its launcher's @health, as above (CONFLICT). */
JsonArray *orch_catalogue_doc_models(JsonObject *health, JsonArray *chosen,
                                     GError **errp);
/* Refresh @platform's models' bus and props; the number changed. */
int orch_catalogue_refresh_doc(JsonObject *platform, JsonObject *health);
/*
 * @model as server @pinned declares it (or, when that one does not offer
 * it, or none is named, the first server in name order that does).
 * false if no server platform offers it.
 */
bool orch_catalogue_find_in(GPtrArray *platforms, const char *model,
                            const char *pinned, OrchModelInfo *ret);
/*
 * Device @device's "props" for @model (as orch_catalogue_find_in picks
 * its declaration): an object of strings, booleans (on/off) or numbers,
 * each a declared property other than "console", every required one
 * given.  Returns them as JSON text of an object of strings, or NULL with
 * a 400 in @errp.  The launcher checks the values when it starts the
 * model.
 */
char *orch_catalogue_check_props_in(GPtrArray *platforms, const char *model,
                                    const char *pinned, const char *device,
                                    JsonNode *props, GError **errp);
/* "a, b, c": the models the server platforms offer ("" if none). */
char *orch_catalogue_names_in(GPtrArray *platforms);

#endif /* ORCH_CATALOGUE_H */
