/*
 * The launcher's HTTP/JSON helpers: replies, request bodies, deferred
 * answers.  They call nothing of the launcher's (api.c routes requests
 * to the role's endpoints).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <string.h>

#include "json-http.h"
#include "soup-limits.h"

#include "http.h"

/* Requests are small JSON documents; anything larger is a mistake. */
#define DM_HTTP_BODY_MAX DM_SOUP_MAX_BODY

void dm_http_reply(SoupServerMessage *msg, guint status, JsonNode *body)
{
    dm_json_http_respond(msg, status, body, false);
    json_node_unref(body);
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
    /*
     * A path or id may be any bytes once percent-decoded; JSON takes
     * UTF-8 only, and json-glib wrote the bytes as they were.
     */
    if (!g_utf8_validate(text, -1, NULL)) {
        char *valid = g_utf8_make_valid(text, -1);

        g_free(text);
        text = valid;
    }
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
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) bytes = NULL;
    const char *data;
    gsize len;

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
    /* Depth, UTF-8, JSON, an object: the orchestrator's checks too. */
    *ret_obj = dm_json_http_parse_object(data, len, &err);
    if (!*ret_obj) {
        dm_http_error(msg, err->code, "%s", err->message);
        return -EINVAL;
    }
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

