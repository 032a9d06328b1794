/*
 * dm-orchestrator: the serial console over a WebSocket (see console-ws.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>
#include <gio/gunixsocketaddress.h>

#include "console-ws.h"
#include "json-http.h"
#include "log.h"
#include "request.h"
#include "vms.h"

/* Its own path: libsoup finds handlers by prefix, not by pattern. */
#define CONSOLE_WS_ROOT "/v1/ws"
#define CONSOLE_WS_PREFIX "/v1/ws/console/"
#define CONSOLE_WS_ADDR "orch-console-address"
#define CONSOLE_WS_READ 4096

typedef struct ConsoleWs {
    OrchWebAuth *auth;
    sqlite3 *db;
} ConsoleWs;

/* One browser attached to one console. */
typedef struct ConsoleRelay {
    int refs;
    SoupWebsocketConnection *ws;
    GSocketConnection *conn;
    GCancellable *cancel;
    GQueue out;                 /* GBytes for the console */
    gsize queued;
    bool writing;
    char *vm;
} ConsoleRelay;

static ConsoleRelay *relay_ref(ConsoleRelay *r)
{
    r->refs++;
    return r;
}

static void relay_unref(ConsoleRelay *r)
{
    if (--r->refs) {
        return;
    }
    g_queue_clear_full(&r->out, (GDestroyNotify)g_bytes_unref);
    g_object_unref(r->cancel);
    g_clear_object(&r->conn);
    g_object_unref(r->ws);
    g_free(r->vm);
    g_free(r);
}

/* Either side ended: end both, once. */
static void relay_close(ConsoleRelay *r, const char *why)
{
    if (g_cancellable_is_cancelled(r->cancel)) {
        return;
    }
    orch_debug("console of %s: %s", r->vm, why);
    g_cancellable_cancel(r->cancel);
    if (r->conn) {
        g_io_stream_close(G_IO_STREAM(r->conn), NULL, NULL);
    }
    if (soup_websocket_connection_get_state(r->ws) ==
        SOUP_WEBSOCKET_STATE_OPEN) {
        soup_websocket_connection_close(r->ws, SOUP_WEBSOCKET_CLOSE_NORMAL,
                                        why);
    }
}

static void relay_read(ConsoleRelay *r);

static void relay_read_done(GObject *src, GAsyncResult *res, gpointer opaque)
{
    ConsoleRelay *r = opaque;
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) data = g_input_stream_read_bytes_finish(
        G_INPUT_STREAM(src), res, &err);

    if (!data || g_bytes_get_size(data) == 0) {
        relay_close(r, err ? err->message : "the console closed");
    } else if (!g_cancellable_is_cancelled(r->cancel)) {
        soup_websocket_connection_send_message(r->ws,
                                               SOUP_WEBSOCKET_DATA_BINARY,
                                               data);
        relay_read(r);
    }
    relay_unref(r);
}

static void relay_read(ConsoleRelay *r)
{
    g_input_stream_read_bytes_async(
        g_io_stream_get_input_stream(G_IO_STREAM(r->conn)), CONSOLE_WS_READ,
        G_PRIORITY_DEFAULT, r->cancel, relay_read_done, relay_ref(r));
}

static void relay_write(ConsoleRelay *r);

static void relay_write_done(GObject *src, GAsyncResult *res,
                             gpointer opaque)
{
    ConsoleRelay *r = opaque;
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) done = g_queue_pop_head(&r->out);

    r->writing = false;
    r->queued -= g_bytes_get_size(done);
    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(src), res, NULL,
                                          &err)) {
        relay_close(r, err->message);
    } else {
        relay_write(r);
    }
    relay_unref(r);
}

/* One write at a time, in order. */
static void relay_write(ConsoleRelay *r)
{
    GBytes *b = g_queue_peek_head(&r->out);

    if (r->writing || !b || g_cancellable_is_cancelled(r->cancel)) {
        return;
    }
    r->writing = true;
    g_output_stream_write_all_async(
        g_io_stream_get_output_stream(G_IO_STREAM(r->conn)),
        g_bytes_get_data(b, NULL), g_bytes_get_size(b), G_PRIORITY_DEFAULT,
        r->cancel, relay_write_done, relay_ref(r));
}

static void relay_message(SoupWebsocketConnection *ws, gint type,
                          GBytes *msg, gpointer opaque)
{
    ConsoleRelay *r = opaque;

    if (r->queued + g_bytes_get_size(msg) > ORCH_CONSOLE_WS_MAX_QUEUED) {
        relay_close(r, "typed faster than the console takes");
        return;
    }
    r->queued += g_bytes_get_size(msg);
    g_queue_push_tail(&r->out, g_bytes_ref(msg));
    relay_write(r);
}

static void relay_closed(SoupWebsocketConnection *ws, gpointer opaque)
{
    ConsoleRelay *r = opaque;

    relay_close(r, "the browser closed");
    g_signal_handlers_disconnect_by_data(ws, r);
    relay_unref(r);
}

/* The VM named in @path, or NULL if the path is not ours. */
static char *console_ws_vm(const char *path)
{
    const char *name = path + strlen(CONSOLE_WS_PREFIX);

    if (!g_str_has_prefix(path, CONSOLE_WS_PREFIX) || !*name ||
        strchr(name, '/')) {
        return NULL;
    }
    return g_uri_unescape_string(name, "/");
}

static void console_ws_fail(SoupServerMessage *msg, guint status,
                            const char *text)
{
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "error", text);
    json_node_take_object(node, o);
    dm_json_http_respond(msg, status, node, true);
}

/* A browser's page of another site must not reach the console. */
static bool console_ws_same_origin(SoupServerMessage *msg)
{
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
    const char *origin = soup_message_headers_get_one(h, "Origin");
    const char *host = soup_message_headers_get_one(h, "Host");
    const char *sep;

    if (!origin) {
        return true;            /* not a browser */
    }
    sep = strstr(origin, "://");
    return host && sep && strcmp(sep + 3, host) == 0;
}

/*
 * Before the upgrade: credentials, then the console's address, which the
 * WebSocket callback finds on the message.  Any status set here refuses
 * the upgrade.
 */
static void console_ws_check(SoupServer *soup, SoupServerMessage *msg,
                             const char *path, GHashTable *query,
                             gpointer opaque)
{
    ConsoleWs *c = opaque;
    g_autofree char *vm = console_ws_vm(path);
    OrchRequest r = { .method = "GET", .db = c->db, .status = 200 };
    char *seg[] = { "vms", vm, "console", NULL };
    JsonObject *o;

    if (!orch_web_auth_ok(c->auth, msg)) {
        orch_web_auth_refuse(c->auth, msg, path);
        return;
    }
    if (!vm) {
        console_ws_fail(msg, 404, "no such endpoint");
        return;
    }
    if (!console_ws_same_origin(msg)) {
        console_ws_fail(msg, 403, "a console is opened from this server's "
                        "pages only");
        return;
    }
    r.seg = seg;
    r.nseg = 3;
    sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL);
    orch_vm_console(&r);
    sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    if (r.error) {
        console_ws_fail(msg, r.status, r.error);
    } else {
        o = json_node_get_object(r.reply);
        g_object_set_data_full(G_OBJECT(msg), CONSOLE_WS_ADDR,
                               g_strdup(json_object_get_string_member(
                                   o, "console")), g_free);
    }
    g_free(r.error);
    if (r.reply) {
        json_node_unref(r.reply);
    }
}

static void console_ws_open(SoupServer *soup, SoupServerMessage *msg,
                            const char *path, SoupWebsocketConnection *ws,
                            gpointer opaque)
{
    const char *addr = g_object_get_data(G_OBJECT(msg), CONSOLE_WS_ADDR);
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) sa = NULL;
    g_autoptr(GError) err = NULL;
    ConsoleRelay *r = g_new0(ConsoleRelay, 1);

    r->refs = 1;
    r->ws = g_object_ref(ws);
    r->cancel = g_cancellable_new();
    r->vm = console_ws_vm(path);
    g_queue_init(&r->out);
    g_signal_connect(ws, "closed", G_CALLBACK(relay_closed), r);
    if (!addr || !g_str_has_prefix(addr, "unix:")) {
        relay_close(r, "the console is not a UNIX socket");
        return;
    }
    /* A local socket: connecting does not wait on anyone. */
    sa = g_unix_socket_address_new(addr + 5);
    r->conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(sa),
                                      NULL, &err);
    if (!r->conn) {
        orch_warn("console of %s: cannot connect to %s: %s", r->vm, addr,
                  err->message);
        relay_close(r, "cannot reach the console");
        return;
    }
    orch_info("console of %s: a browser attached", r->vm);
    soup_websocket_connection_set_keepalive_interval(ws, 30);
    g_signal_connect(ws, "message", G_CALLBACK(relay_message), r);
    relay_read(r);
}

void orch_console_ws_setup(SoupServer *soup, OrchWebAuth *auth, sqlite3 *db)
{
    ConsoleWs *c = g_new0(ConsoleWs, 1);

    c->auth = auth;
    c->db = db;
    /* libsoup runs the check, then upgrades if it set no status. */
    soup_server_add_handler(soup, CONSOLE_WS_ROOT, console_ws_check, c,
                            g_free);
    soup_server_add_websocket_handler(soup, CONSOLE_WS_ROOT, NULL, NULL,
                                      console_ws_open, NULL, NULL);
}
