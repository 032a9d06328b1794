/*
 * A client of etcd's v3 JSON gateway (etcd.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include <gio/gio.h>
#include <libsoup/soup.h>

#include "etcd.h"
#include "json-http.h"
#include "json-limits.h"
#include "soup-read.h"
#include "soup-tls.h"

G_DEFINE_QUARK(dm-etcd-error-quark, dm_etcd_error)

/* gRPC's code for "unavailable" (no leader, shutting down): try another. */
#define GRPC_UNAVAILABLE 14

struct DmEtcd {
    char **endpoints;           /* base URLs, without a trailing slash */
    guint n;
    guint current;              /* the one that answered last */
    SoupSession *soup;
    GTlsCertificate *cert;      /* ours, or NULL */
};

DmEtcd *dm_etcd_new(const char *endpoints, const char *ca,
                        const char *cert, const char *key, GError **errp)
{
    g_autoptr(DmEtcd) e = g_new0(DmEtcd, 1);
    g_auto(GStrv) parts = g_strsplit(endpoints, ",", -1);
    g_autoptr(GPtrArray) urls = g_ptr_array_new();
    g_autoptr(GTlsDatabase) db = NULL;
    guint i;

    for (i = 0; parts[i]; i++) {
        char *u = g_strstrip(parts[i]);
        g_autoptr(GUri) uri = NULL;

        if (!*u) {
            continue;
        }
        uri = g_uri_parse(u, G_URI_FLAGS_NONE, NULL);
        if (!uri || !g_uri_get_host(uri) ||
            (strcmp(g_uri_get_scheme(uri), "http") &&
             strcmp(g_uri_get_scheme(uri), "https")) ||
            (*g_uri_get_path(uri) && strcmp(g_uri_get_path(uri), "/"))) {
            g_set_error(errp, DM_ETCD_ERROR, DM_ETCD_ERROR_CONFIG,
                        "etcd endpoint '%s': wanted http(s)://HOST:PORT", u);
            return NULL;
        }
        g_ptr_array_add(urls, g_strndup(u, strlen(u) -
                                        (g_str_has_suffix(u, "/") ? 1 : 0)));
    }
    if (!urls->len) {
        g_set_error(errp, DM_ETCD_ERROR, DM_ETCD_ERROR_CONFIG,
                    "etcd: no endpoint given");
        return NULL;
    }
    e->n = urls->len;
    g_ptr_array_add(urls, NULL);
    e->endpoints = (char **)g_ptr_array_steal(urls, NULL);
    if (!cert != !key) {
        g_set_error(errp, DM_ETCD_ERROR, DM_ETCD_ERROR_CONFIG,
                    "etcd: a client certificate needs its key, and back");
        return NULL;
    }
    if (cert) {
        e->cert = g_tls_certificate_new_from_files(cert, key, errp);
        if (!e->cert) {
            g_prefix_error(errp, "etcd: %s: ", cert);
            return NULL;
        }
    }
    if (ca) {
        db = g_tls_file_database_new(ca, errp);
        if (!db) {
            g_prefix_error(errp, "etcd: %s: ", ca);
            return NULL;
        }
    }
    e->soup = soup_session_new_with_options("timeout", DM_ETCD_TIMEOUT_S,
                                            "user-agent", "dm-orchestrator",
                                            NULL);
    if (db) {
        soup_session_set_tls_database(e->soup, db);
    }
    return g_steal_pointer(&e);
}

void dm_etcd_free(DmEtcd *e)
{
    if (e) {
        g_strfreev(e->endpoints);
        g_clear_object(&e->soup);
        g_clear_object(&e->cert);
        g_free(e);
    }
}

/*
 * One POST to endpoint @i.  The answer's object, or NULL with *@retry
 * telling whether another endpoint may do better (no answer, or etcd
 * said it is unavailable).
 */
static JsonNode *etcd_post(DmEtcd *e, guint i, const char *path,
                           const char *body, bool *retry, GError **errp)
{
    g_autofree char *url = g_strconcat(e->endpoints[i], path, NULL);
    g_autoptr(SoupMessage) msg = soup_message_new("POST", url);
    g_autoptr(GBytes) req = g_bytes_new(body, strlen(body));
    g_autoptr(GBytes) resp = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GError) err = NULL;
    JsonObject *o;
    guint status;
    gsize len;
    const char *data;

    *retry = true;
    if (!msg) {
        *retry = false;
        g_set_error(errp, DM_ETCD_ERROR, DM_ETCD_ERROR_REFUSED,
                    "etcd: bad URL %s", url);
        return NULL;
    }
    if (e->cert) {
        dm_soup_tls_message_set_cert(msg, e->cert);
    }
    soup_message_set_request_body_from_bytes(msg, "application/json", req);
    resp = dm_soup_send_and_read_max(e->soup, msg, DM_ETCD_MAX_ANSWER, NULL,
                                     &err);
    if (!resp) {
        g_set_error(errp, DM_ETCD_ERROR, DM_ETCD_ERROR_UNAVAILABLE,
                    "etcd %s: %s", e->endpoints[i], err->message);
        return NULL;
    }
    status = soup_message_get_status(msg);
    data = g_bytes_get_data(resp, &len);
    /* Whatever answers at the endpoint: nested too deep, refused. */
    root = dm_json_parse_peer(data, len, DM_JSON_MAX_DEPTH, &err);
    if (!root) {
        g_set_error(errp, DM_ETCD_ERROR, DM_ETCD_ERROR_UNAVAILABLE,
                    "etcd %s: HTTP %u, answer refused: %s", e->endpoints[i],
                    status, err->message);
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(errp, DM_ETCD_ERROR, DM_ETCD_ERROR_UNAVAILABLE,
                    "etcd %s: HTTP %u, not a JSON object", e->endpoints[i],
                    status);
        return NULL;
    }
    o = json_node_get_object(root);
    if (status != SOUP_STATUS_OK || json_object_has_member(o, "error")) {
        const char *what = json_object_get_string_member_with_default(
            o, "message", json_object_get_string_member_with_default(
                o, "error", "?"));

        *retry = dm_etcd_int(o, "code") == GRPC_UNAVAILABLE;
        g_set_error(errp, DM_ETCD_ERROR, *retry ? DM_ETCD_ERROR_UNAVAILABLE
                    : DM_ETCD_ERROR_REFUSED, "etcd %s%s: %s", e->endpoints[i],
                    path, what);
        return NULL;
    }
    *retry = false;
    return g_steal_pointer(&root);
}

JsonNode *dm_etcd_call(DmEtcd *e, const char *path, JsonNode *body,
                       GError **errp)
{
    g_autofree char *text = json_to_string(body, FALSE);
    g_autoptr(GString) why = g_string_new(NULL);
    guint k;

    for (k = 0; k < e->n; k++) {
        guint i = (e->current + k) % e->n;
        g_autoptr(GError) err = NULL;
        bool retry;
        JsonNode *r = etcd_post(e, i, path, text, &retry, &err);

        if (r) {
            e->current = i;
            return r;
        }
        if (!retry) {
            g_propagate_error(errp, g_steal_pointer(&err));
            return NULL;
        }
        /* Every endpoint's reason, in the order they were tried. */
        g_string_append_printf(why, "%s%s", why->len ? "; " : "",
                               err->message);
    }
    g_set_error(errp, DM_ETCD_ERROR, DM_ETCD_ERROR_UNAVAILABLE, "%s",
                why->str);
    return NULL;
}

void dm_etcd_set_timeout(DmEtcd *e, guint seconds)
{
    g_object_set(e->soup, "timeout", seconds, NULL);
}

/* One streamed POST to endpoint @i: its body if etcd answered 200. */
static GInputStream *etcd_post_stream(DmEtcd *e, guint i, const char *path,
                                      const char *body, GCancellable *cancel,
                                      GError **errp)
{
    g_autofree char *url = g_strconcat(e->endpoints[i], path, NULL);
    g_autoptr(SoupMessage) msg = soup_message_new("POST", url);
    g_autoptr(GBytes) req = g_bytes_new(body, strlen(body));
    g_autoptr(GInputStream) in = NULL;
    g_autoptr(GError) err = NULL;
    guint status;

    if (!msg) {
        g_set_error(errp, DM_ETCD_ERROR, DM_ETCD_ERROR_REFUSED,
                    "etcd: bad URL %s", url);
        return NULL;
    }
    if (e->cert) {
        dm_soup_tls_message_set_cert(msg, e->cert);
    }
    soup_message_set_request_body_from_bytes(msg, "application/json", req);
    in = soup_session_send(e->soup, msg, cancel, &err);
    if (!in) {
        g_set_error(errp, DM_ETCD_ERROR, DM_ETCD_ERROR_UNAVAILABLE,
                    "etcd %s: %s", e->endpoints[i], err->message);
        return NULL;
    }
    status = soup_message_get_status(msg);
    if (status != SOUP_STATUS_OK) {
        /* Its message is in the body; the status says enough. */
        g_set_error(errp, DM_ETCD_ERROR, DM_ETCD_ERROR_UNAVAILABLE,
                    "etcd %s%s: HTTP %u", e->endpoints[i], path, status);
        return NULL;
    }
    return g_steal_pointer(&in);
}

GInputStream *dm_etcd_call_stream(DmEtcd *e, const char *path,
                                  JsonNode *body, GCancellable *cancel,
                                  GError **errp)
{
    g_autofree char *text = json_to_string(body, FALSE);
    g_autoptr(GString) why = g_string_new(NULL);
    guint k;

    for (k = 0; k < e->n; k++) {
        guint i = (e->current + k) % e->n;
        g_autoptr(GError) err = NULL;
        GInputStream *in = etcd_post_stream(e, i, path, text, cancel, &err);

        if (in) {
            e->current = i;
            return in;
        }
        if (g_cancellable_is_cancelled(cancel)) {
            g_propagate_error(errp, g_steal_pointer(&err));
            return NULL;
        }
        g_string_append_printf(why, "%s%s", why->len ? "; " : "",
                               err->message);
    }
    g_set_error(errp, DM_ETCD_ERROR, DM_ETCD_ERROR_UNAVAILABLE, "%s",
                why->str);
    return NULL;
}

char *dm_etcd_b64(const char *s)
{
    return g_base64_encode((const guchar *)s, strlen(s));
}

char *dm_etcd_unb64(const char *s, gsize *len)
{
    gsize n = 0;
    guchar *raw = g_base64_decode(s ? s : "", &n);
    char *out = g_malloc(n + 1);

    memcpy(out, raw, n);
    out[n] = '\0';
    g_free(raw);
    if (len) {
        *len = n;
    }
    return out;
}

/* int64s are strings in the gateway's JSON, and absent when zero. */
gint64 dm_etcd_int(JsonObject *o, const char *member)
{
    JsonNode *n = o ? json_object_get_member(o, member) : NULL;

    if (!n || !JSON_NODE_HOLDS_VALUE(n)) {
        return 0;
    }
    if (json_node_get_value_type(n) == G_TYPE_STRING) {
        return g_ascii_strtoll(json_node_get_string(n), NULL, 10);
    }
    return json_node_get_int(n);
}

static JsonNode *lease_body(gint64 id, gint64 ttl)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    g_autofree char *ttls = g_strdup_printf("%" G_GINT64_FORMAT, ttl);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "ID");
    json_builder_add_string_value(b, ids);
    if (ttl) {
        json_builder_set_member_name(b, "TTL");
        json_builder_add_string_value(b, ttls);
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

gint64 dm_etcd_lease_grant(DmEtcd *e, gint64 ttl, GError **errp)
{
    g_autoptr(JsonNode) body = lease_body(0, ttl);
    g_autoptr(JsonNode) r = dm_etcd_call(e, "/v3/lease/grant", body, errp);
    gint64 id;

    if (!r) {
        return 0;
    }
    id = dm_etcd_int(json_node_get_object(r), "ID");
    if (!id) {
        g_set_error(errp, DM_ETCD_ERROR, DM_ETCD_ERROR_REFUSED,
                    "etcd: a lease grant without an ID");
    }
    return id;
}

gint64 dm_etcd_lease_keepalive(DmEtcd *e, gint64 id, GError **errp)
{
    g_autoptr(JsonNode) body = lease_body(id, 0);
    g_autoptr(JsonNode) r = dm_etcd_call(e, "/v3/lease/keepalive", body,
                                           errp);
    JsonObject *o;

    if (!r) {
        return -1;
    }
    /* A streamed call: its one answer comes wrapped in "result". */
    o = json_node_get_object(r);
    if (json_object_has_member(o, "result")) {
        o = json_object_get_object_member(o, "result");
    }
    return dm_etcd_int(o, "TTL");
}

bool dm_etcd_lease_revoke(DmEtcd *e, gint64 id, GError **errp)
{
    g_autoptr(JsonNode) body = lease_body(id, 0);
    g_autoptr(JsonNode) r = dm_etcd_call(e, "/v3/lease/revoke", body,
                                           errp);

    return r != NULL;
}
