/*
 * dm-orchestrator: a launcher's answer, once it has come (launcher.h):
 * its JSON, its reason and fields.  Apart from the transport
 * (launcher.c, which calls it) so that the API's fuzz target
 * (tests/fuzz/fuzz-orch-api.c) answers for launchers through the same
 * code.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <libsoup/soup.h>

#include "error.h"
#include "json-http.h"
#include "json-limits.h"
#include "launcher-reply.h"

bool orch_launcher_answer(const char *address, const char *method,
                          const char *path, const void *data, gsize len,
                          JsonNode **ret_reply, GError **errp)
{
    g_autoptr(GError) err = NULL;

    *ret_reply = NULL;
    if (len == 0) {
        return true;
    }
    /*
     * Up to ORCH_LAUNCHER_MAX_ANSWER bytes from whatever answers at the
     * launcher's address: json-glib recurses per level, and a few MB of
     * '[' ran off the worker's stack.  Our launchers' answers are a few
     * levels deep, as the requests the API takes.
     */
    *ret_reply = dm_json_parse_peer(data, len, DM_JSON_MAX_DEPTH, &err);
    if (!*ret_reply) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_GATEWAY,
                    "launcher %s: %s %s: answer refused: %s",
                    address, method, path, err->message);
        return false;
    }
    return true;
}

const char *orch_launcher_reason(JsonNode *reply, guint status)
{
    if (reply && JSON_NODE_HOLDS_OBJECT(reply)) {
        JsonObject *o = json_node_get_object(reply);
        JsonNode *e = json_object_get_member(o, "error");

        if (e && JSON_NODE_HOLDS_VALUE(e) &&
            json_node_get_value_type(e) == G_TYPE_STRING) {
            return json_node_get_string(e);
        }
    }
    return soup_status_get_phrase(status);
}

const char *orch_launcher_str(JsonObject *o, const char *key)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;

    return n && JSON_NODE_HOLDS_VALUE(n) &&
           json_node_get_value_type(n) == G_TYPE_STRING ?
           json_node_get_string(n) : NULL;
}
