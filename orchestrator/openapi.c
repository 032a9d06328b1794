/*
 * dm-orchestrator: the OpenAPI document (see openapi.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <gio/gio.h>

#include "openapi.h"

#define OPENAPI_RESOURCE "/org/dm-orchestrator/openapi.json"

int orch_openapi_get(OrchRequest *r)
{
    g_autoptr(GBytes) doc = g_resources_lookup_data(OPENAPI_RESOURCE, 0,
                                                    NULL);
    g_autoptr(JsonParser) p = json_parser_new();
    gsize len;
    const char *data = doc ? g_bytes_get_data(doc, &len) : NULL;

    /* Checked by its test: a broken build, not a client's fault. */
    if (!data || !json_parser_load_from_data(p, data, len, NULL)) {
        return orch_fail(r, 500, "the OpenAPI document is missing or "
                         "broken");
    }
    orch_reply(r, 200, json_node_copy(json_parser_get_root(p)));
    return 0;
}
