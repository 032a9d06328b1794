/*
 * The launcher's HTTP/JSON helpers: replies, request bodies, deferred
 * answers.  They call nothing of the launcher's (api.c routes requests
 * to the role's endpoints).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <string.h>

#include "json-limits.h"
#include "soup-limits.h"

#include "http.h"
#include "launcher.h"             /* dm_id_valid */

/* Requests are small JSON documents; anything larger is a mistake. */
#define DM_HTTP_BODY_MAX DM_SOUP_MAX_BODY

void dm_http_reply(SoupServerMessage *msg, guint status, JsonNode *body)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    gsize len;
    char *text;

    json_generator_set_root(gen, body);
    text = json_generator_to_data(gen, &len);
    json_node_unref(body);
    soup_server_message_set_status(msg, status, NULL);
    soup_server_message_set_response(msg, "application/json",
                                     SOUP_MEMORY_TAKE, text, len);
}

void dm_http_reply_object(SoupServerMessage *msg, guint status,
                          JsonObject *obj)
{
    dm_http_reply(msg, status, json_node_init_object(json_node_alloc(), obj));
    json_object_unref(obj);
}

void dm_http_error(SoupServerMessage *msg, guint status, const char *fmt, ...)
{
    JsonObject *o = json_object_new();
    g_autofree char *text = NULL;
    va_list ap;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    json_object_set_string_member(o, "error", text);
    dm_http_reply_object(msg, status, o);
}

void dm_http_not_allowed(SoupServerMessage *msg, const char *allow)
{
    soup_message_headers_replace(
        soup_server_message_get_response_headers(msg), "Allow", allow);
    dm_http_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED,
                  "method %s not allowed here (allowed: %s)",
                  soup_server_message_get_method(msg), allow);
}

int dm_http_want_method(SoupServerMessage *msg, const char *method)
{
    if (strcmp(soup_server_message_get_method(msg), method) == 0) {
        return 0;
    }
    dm_http_not_allowed(msg, method);
    return -EINVAL;
}

int dm_http_body_object(SoupServerMessage *msg, JsonObject **ret_obj)
{
    SoupMessageBody *body = soup_server_message_get_request_body(msg);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) bytes = NULL;
    JsonNode *root;
    gsize len;
    const char *data;

    if (body->length > DM_HTTP_BODY_MAX) {
        dm_http_error(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE,
                      "request body larger than %d bytes", DM_HTTP_BODY_MAX);
        return -EFBIG;
    }
    bytes = soup_message_body_flatten(body);
    data = g_bytes_get_data(bytes, &len);
    if (len == 0) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST,
                      "missing request body (a JSON object)");
        return -EINVAL;
    }
    /* json-glib recurses: a deep document would overflow our stack. */
    if (dm_json_check_depth(data, len, DM_JSON_MAX_DEPTH) < 0) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "JSON nested deeper "
                      "than %d levels", DM_JSON_MAX_DEPTH);
        return -EINVAL;
    }
    if (!g_utf8_validate(data, len, NULL) ||
        !json_parser_load_from_data(parser, data, len, &error)) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "bad JSON: %s",
                      error ? error->message : "not UTF-8");
        return -EINVAL;
    }
    root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST,
                      "the request body must be a JSON object");
        return -EINVAL;
    }
    *ret_obj = json_object_ref(json_node_get_object(root));
    return 0;
}

int dm_http_member_string(SoupServerMessage *msg, JsonObject *obj,
                          const char *name, const char **ret_str)
{
    JsonNode *n = json_object_get_member(obj, name);

    if (!n || JSON_NODE_HOLDS_NULL(n)) {
        *ret_str = NULL;
        return 0;
    }
    if (!JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_STRING) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST,
                      "'%s' must be a string", name);
        return -EINVAL;
    }
    *ret_str = json_node_get_string(n);
    return 0;
}

void dm_http_defer(SoupServerMessage *msg)
{
    g_object_ref(msg);
    soup_server_message_pause(msg);
}

void dm_http_resume(SoupServerMessage *msg)
{
    soup_server_message_unpause(msg);
    g_object_unref(msg);
}

void dm_http_answer_waiting(SoupServerMessage **waiting, guint status,
                            JsonObject *obj)
{
    SoupServerMessage *msg = g_steal_pointer(waiting);

    if (msg) {
        dm_http_reply_object(msg, status, obj);
        dm_http_resume(msg);
    } else {
        json_object_unref(obj);
    }
}

void dm_http_answer_waiting_error(SoupServerMessage **waiting, guint status,
                                  const char *text)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "error", text);
    dm_http_answer_waiting(waiting, status, o);
}

