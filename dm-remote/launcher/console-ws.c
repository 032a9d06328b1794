/*
 * Server role: a model's console over a WebSocket (see console-ws.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>
#include <gio/gunixsocketaddress.h>

#include "console-ws.h"
#include "display-ws.h"
#include "http.h"
#include "log.h"
#include "ws-relay.h"

/* libsoup finds handlers by prefix: everything under it is ours. */
#define CONSOLE_WS_ROOT "/v1/ws"
#define CONSOLE_WS_PATH "console-ws-path"

/*
 * The instance's id in /v1/ws/instances/ID/console, or NULL; *@display
 * tells /v1/ws/instances/ID/display (display-ws.h), served beside it.
 */
static char *console_ws_id(const char *path, bool *display)
{
    g_auto(GStrv) seg = g_strsplit(path, "/", 0);

    /* "", "v1", "ws", "instances", ID, "console" or "display" */
    if (g_strv_length(seg) != 6 || strcmp(seg[3], "instances") != 0 ||
        !vup_name_valid(seg[4])) {
        return NULL;
    }
    *display = strcmp(seg[5], "display") == 0;
    if (!*display && strcmp(seg[5], "console") != 0) {
        return NULL;
    }
    return g_strdup(seg[4]);
}

/* Before the upgrade: any status set here refuses it. */
static void console_ws_check(SoupServer *soup, SoupServerMessage *msg,
                             const char *path, GHashTable *query,
                             gpointer opaque)
{
    DmServer *s = opaque;
    bool display = false;
    g_autofree char *id = console_ws_id(path, &display);
    DmInstance *inst = id ? g_hash_table_lookup(s->instances, id) : NULL;

    if (id && display) {
        dm_display_ws_check(s, msg, id);
    } else if (!id) {
        dm_http_error(msg, SOUP_STATUS_NOT_FOUND, "no such path: %s", path);
    } else if (!inst) {
        dm_http_error(msg, SOUP_STATUS_NOT_FOUND, "no instance '%s'", id);
    } else if (!inst->console_path) {
        dm_http_error(msg, SOUP_STATUS_NOT_FOUND, "instance '%s' has no "
                      "console", id);
    } else if (inst->state != DM_INST_RUNNING) {
        dm_http_error(msg, SOUP_STATUS_CONFLICT, "instance '%s' is not "
                      "running", id);
    } else {
        g_object_set_data_full(G_OBJECT(msg), CONSOLE_WS_PATH,
                               g_strdup(inst->console_path), g_free);
    }
}

static void console_ws_ended(const char *id, const char *why)
{
    dm_debug("console of instance %s: %s", id, why);
}

static void console_ws_open(SoupServer *soup, SoupServerMessage *msg,
                            const char *path, SoupWebsocketConnection *ws,
                            gpointer opaque)
{
    const char *sock = g_object_get_data(G_OBJECT(msg), CONSOLE_WS_PATH);
    bool display = false;
    g_autofree char *id = console_ws_id(path, &display);
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) sa = NULL;
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GError) err = NULL;

    if (id && display) {
        dm_display_ws_open(msg, ws, id);
        return;
    }
    if (!sock) {
        soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_NORMAL,
                                        "no console");
        return;
    }
    /* A local socket: connecting does not wait on anyone. */
    sa = g_unix_socket_address_new(sock);
    conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(sa), NULL,
                                   &err);
    if (!conn) {
        dm_warn("console of instance %s: %s", id, err->message);
        soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_NORMAL,
                                        "cannot reach the console");
        return;
    }
    dm_info("console of instance %s: a client attached", id);
    dm_ws_relay_stream(ws, G_IO_STREAM(conn), id, console_ws_ended);
}

void dm_console_ws_attach(SoupServer *soup, DmServer *s)
{
    soup_server_add_handler(soup, CONSOLE_WS_ROOT, console_ws_check, s,
                            NULL);
    soup_server_add_websocket_handler(soup, CONSOLE_WS_ROOT, NULL, NULL,
                                      console_ws_open, NULL, NULL);
}
