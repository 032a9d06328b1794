/*
 * dm-orchestrator: the serial console over a WebSocket (see console-ws.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>
#include <gio/gunixsocketaddress.h>

#include "console-ws.h"
#include "json-http.h"
#include "launcher.h"
#include "log.h"
#include "request.h"
#include "vms.h"
#include "ws-relay.h"

/* Its own path: libsoup finds handlers by prefix, not by pattern. */
#define CONSOLE_WS_ROOT "/v1/ws"
#define CONSOLE_WS_PREFIX "/v1/ws/console/"
#define CONSOLE_WS_INFO "orch-console-info"

typedef struct ConsoleWs {
    OrchWebAuth *auth;
    sqlite3 *db;
} ConsoleWs;

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
        g_object_set_data_full(G_OBJECT(msg), CONSOLE_WS_INFO,
                               json_object_ref(o),
                               (GDestroyNotify)json_object_unref);
    }
    g_free(r.error);
    if (r.reply) {
        json_node_unref(r.reply);
    }
}

static void console_ws_ended(const char *vm, const char *why)
{
    orch_debug("console of %s: %s", vm, why);
}

/* A browser waiting for the server's launcher to take its console. */
typedef struct ConsoleWait {
    SoupWebsocketConnection *ws;
    GCancellable *cancel;
    char *vm;
    GQueue typed;               /* GBytes typed meanwhile, in order */
    gsize queued;
} ConsoleWait;

static void console_wait_browser_closed(SoupWebsocketConnection *ws,
                                        gpointer opaque)
{
    ConsoleWait *w = opaque;

    g_cancellable_cancel(w->cancel);
}

/* What the browser types before the launcher answers is kept, bounded. */
static void console_wait_typed(SoupWebsocketConnection *ws, gint type,
                               GBytes *msg, gpointer opaque)
{
    ConsoleWait *w = opaque;

    if (w->queued + g_bytes_get_size(msg) > DM_WS_RELAY_MAX_QUEUED) {
        g_cancellable_cancel(w->cancel);
        return;
    }
    w->queued += g_bytes_get_size(msg);
    g_queue_push_tail(&w->typed, g_bytes_ref(msg));
}

static void console_ws_launcher(SoupWebsocketConnection *lws, const char *why,
                                gpointer opaque)
{
    ConsoleWait *w = opaque;

    g_signal_handlers_disconnect_by_data(w->ws, w);
    if (!lws) {
        orch_warn("console of %s: the server's launcher: %s", w->vm, why);
        if (soup_websocket_connection_get_state(w->ws) ==
            SOUP_WEBSOCKET_STATE_OPEN) {
            soup_websocket_connection_close(w->ws,
                                            SOUP_WEBSOCKET_CLOSE_NORMAL,
                                            "cannot reach the console");
        }
    } else {
        orch_info("console of %s: a browser attached (through the "
                  "server's launcher)", w->vm);
        for (GList *l = w->typed.head; l; l = l->next) {
            soup_websocket_connection_send_message(
                lws, SOUP_WEBSOCKET_DATA_BINARY, l->data);
        }
        dm_ws_relay_pair(w->ws, lws, w->vm, console_ws_ended);
    }
    g_queue_clear_full(&w->typed, (GDestroyNotify)g_bytes_unref);
    g_object_unref(w->ws);
    g_object_unref(w->cancel);
    g_free(w->vm);
    g_free(w);
}

/*
 * A launcher on this host (unix:) shares its files: the console's
 * socket is connected to at once.  One elsewhere (tcp:) relays it over
 * its own WebSocket, /v1/ws/instances/ID/console, with our launcher
 * credentials.
 */
static void console_ws_open(SoupServer *soup, SoupServerMessage *msg,
                            const char *path, SoupWebsocketConnection *ws,
                            gpointer opaque)
{
    JsonObject *info = g_object_get_data(G_OBJECT(msg), CONSOLE_WS_INFO);
    g_autofree char *vm = console_ws_vm(path);
    const char *addr, *launcher, *inst;
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) sa = NULL;
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *lpath = NULL;
    ConsoleWait *w;

    addr = info ? json_object_get_string_member(info, "console") : NULL;
    launcher = info ? json_object_get_string_member(info, "server_address")
                    : NULL;
    inst = info ? json_object_get_string_member(info, "instance") : NULL;
    if (!addr || !launcher || !inst || !g_str_has_prefix(addr, "unix:")) {
        soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_NORMAL,
                                        "the console is not a UNIX socket");
        return;
    }
    if (g_str_has_prefix(launcher, "unix:")) {
        /* A local socket: connecting does not wait on anyone. */
        sa = g_unix_socket_address_new(addr + 5);
        conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(sa),
                                       NULL, &err);
        if (!conn) {
            orch_warn("console of %s: cannot connect to %s: %s", vm, addr,
                      err->message);
            soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_NORMAL,
                                            "cannot reach the console");
            return;
        }
        orch_info("console of %s: a browser attached", vm);
        dm_ws_relay_stream(ws, G_IO_STREAM(conn), vm, console_ws_ended);
        return;
    }
    w = g_new0(ConsoleWait, 1);
    w->ws = g_object_ref(ws);
    w->cancel = g_cancellable_new();
    w->vm = g_steal_pointer(&vm);
    g_queue_init(&w->typed);
    g_signal_connect(ws, "closed", G_CALLBACK(console_wait_browser_closed),
                     w);
    g_signal_connect(ws, "message", G_CALLBACK(console_wait_typed), w);
    lpath = g_strdup_printf("/v1/ws/instances/%s/console", inst);
    orch_launcher_websocket(launcher, lpath, w->cancel, console_ws_launcher,
                            w);
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
