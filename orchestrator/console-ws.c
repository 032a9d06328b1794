/*
 * dm-orchestrator: the serial console over a WebSocket (see console-ws.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>
#include <gio/gunixsocketaddress.h>

#include "console-ws.h"
#include "log.h"
#include "records-bind.h"
#include "request.h"
#include "vms.h"
#include "ws-relay.h"
#include "ws-upgrade.h"

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
    OrchStoreView *reads = NULL;
    JsonObject *o;

    if (!orch_ws_allowed(c->auth, msg, path)) {
        return;
    }
    if (!vm) {
        orch_ws_fail(msg, 404, "no such endpoint");
        return;
    }
    r.seg = seg;
    r.nseg = 3;
    /* Through a view of its own, never committed (records-bind.h). */
    orch_rec_twin_bind(&reads);
    orch_vm_console(&r);
    orch_rec_twin_bind(NULL);
    g_clear_pointer(&reads, orch_view_free);
    if (r.error) {
        orch_ws_fail(msg, r.status, r.error);
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
    g_autofree char *what = NULL;

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
    lpath = g_strdup_printf("/v1/ws/instances/%s/console", inst);
    what = g_strdup_printf("console of %s", vm);
    orch_ws_via_launcher(ws, launcher, lpath, what);
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
