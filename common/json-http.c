/*
 * JSON over HTTP, shared by the two libsoup servers.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "json-http.h"
#include "json-limits.h"

G_DEFINE_QUARK(dm-json-http-error-quark, dm_json_http_error)

void dm_json_http_respond(SoupServerMessage *msg, guint status,
                          JsonNode *node, bool pretty)
{
    char *text = json_to_string(node, pretty);

    soup_server_message_set_status(msg, status, NULL);
    soup_server_message_set_response(msg, "application/json",
                                     SOUP_MEMORY_TAKE, text, strlen(text));
}

JsonObject *dm_json_http_parse_object(const char *data, gsize len,
                                      GError **err)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) why = NULL;
    JsonNode *root;

    if (dm_json_check_depth(data, len, DM_JSON_MAX_DEPTH) < 0) {
        g_set_error(err, DM_JSON_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                    "JSON nested deeper than %d levels", DM_JSON_MAX_DEPTH);
        return NULL;
    }
    if (dm_json_check_nul(data, len) < 0) {
        g_set_error(err, DM_JSON_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                    "bad JSON: a NUL character (U+0000) is refused");
        return NULL;
    }
    if (!g_utf8_validate(data, len, NULL) ||
        !json_parser_load_from_data(parser, data, len, &why)) {
        g_set_error(err, DM_JSON_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                    "bad JSON: %s", why ? why->message : "not UTF-8");
        return NULL;
    }
    root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(err, DM_JSON_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                    "the body must be a JSON object");
        return NULL;
    }
    return json_object_ref(json_node_get_object(root));
}

JsonNode *dm_json_parse_peer(const char *data, gsize len, unsigned max_depth,
                             GError **err)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) why = NULL;
    JsonNode *root;

    if (dm_json_check_depth(data, len, max_depth) < 0) {
        g_set_error(err, DM_JSON_HTTP_ERROR, SOUP_STATUS_BAD_GATEWAY,
                    "JSON nested deeper than %u levels", max_depth);
        return NULL;
    }
    if (!json_parser_load_from_data(parser, len ? data : "", len, &why) ||
        !(root = json_parser_steal_root(parser))) {
        g_set_error(err, DM_JSON_HTTP_ERROR, SOUP_STATUS_BAD_GATEWAY,
                    "not JSON: %s", why ? why->message : "empty");
        return NULL;
    }
    return root;
}

JsonObject *dm_json_object_parse(const char *text)
{
    g_autoptr(JsonNode) n = text ? dm_json_parse_peer(text, strlen(text),
                                                      DM_JSON_MAX_DEPTH,
                                                      NULL) : NULL;

    return n && JSON_NODE_HOLDS_OBJECT(n) ?
        json_object_ref(json_node_get_object(n)) : NULL;
}

char *dm_json_scalar_string(JsonNode *n)
{
    if (!n || !JSON_NODE_HOLDS_VALUE(n)) {
        return NULL;
    }
    switch (json_node_get_value_type(n)) {
    case G_TYPE_STRING:
        return g_strdup(json_node_get_string(n));
    case G_TYPE_BOOLEAN:
        return g_strdup(json_node_get_boolean(n) ? "on" : "off");
    case G_TYPE_INT64:
        return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(n));
    default:
        return NULL;
    }
}

const char *dm_json_type_name(JsonNode *n)
{
    if (JSON_NODE_HOLDS_OBJECT(n)) {
        return "an object";
    }
    if (JSON_NODE_HOLDS_ARRAY(n)) {
        return "an array";
    }
    switch (json_node_get_value_type(n)) {
    case G_TYPE_STRING:
        return "a string";
    case G_TYPE_BOOLEAN:
        return "a boolean";
    default:
        return "a number";
    }
}

bool dm_json_member(JsonObject *o, const char *key, bool required,
                    GType type, const char *what, JsonNode **ret,
                    GError **err)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;

    *ret = NULL;
    if (!n || JSON_NODE_HOLDS_NULL(n)) {
        if (required) {
            g_set_error(err, DM_JSON_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                        "'%s' is missing", key);
            return false;
        }
        return true;
    }
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != type) {
        g_set_error(err, DM_JSON_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                    "'%s' must be %s, not %s", key, what,
                    dm_json_type_name(n));
        return false;
    }
    *ret = n;
    return true;
}
