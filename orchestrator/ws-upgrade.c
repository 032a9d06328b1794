/*
 * dm-orchestrator: what the browser's WebSockets share (see
 * ws-upgrade.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "json-http.h"
#include "launcher.h"
#include "log.h"
#include "ws-relay.h"
#include "ws-upgrade.h"

void orch_ws_fail(SoupServerMessage *msg, guint status, const char *text)
{
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "error", text);
    json_node_take_object(node, o);
    dm_json_http_respond(msg, status, node, true);
}

static bool ws_same_origin(SoupServerMessage *msg)
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

bool orch_ws_allowed(OrchWebAuth *auth, SoupServerMessage *msg,
                     const char *path)
{
    if (!orch_web_auth_ok(auth, msg)) {
        orch_web_auth_refuse(auth, msg, path);
        return false;
    }
    if (!ws_same_origin(msg)) {
        orch_ws_fail(msg, 403, "a console is opened from this server's "
                     "pages only");
        return false;
    }
    return true;
}

static void ws_ended(const char *what, const char *why)
{
    orch_debug("%s: %s", what, why);
}

/* A browser waiting for a launcher to take its WebSocket. */
typedef struct WsWait {
    SoupWebsocketConnection *ws;
    GCancellable *cancel;
    char *what;
    GQueue typed;               /* GBytes sent meanwhile, in order */
    gsize queued;
} WsWait;

static void ws_wait_browser_closed(SoupWebsocketConnection *ws,
                                   gpointer opaque)
{
    WsWait *w = opaque;

    g_cancellable_cancel(w->cancel);
}

/* What the browser sends before the launcher answers is kept, bounded. */
static void ws_wait_typed(SoupWebsocketConnection *ws, gint type,
                          GBytes *msg, gpointer opaque)
{
    WsWait *w = opaque;

    if (w->queued + g_bytes_get_size(msg) > DM_WS_RELAY_MAX_QUEUED) {
        g_cancellable_cancel(w->cancel);
        return;
    }
    w->queued += g_bytes_get_size(msg);
    g_queue_push_tail(&w->typed, g_bytes_ref(msg));
}

static void ws_wait_launcher(SoupWebsocketConnection *lws, const char *why,
                             gpointer opaque)
{
    WsWait *w = opaque;

    g_signal_handlers_disconnect_by_data(w->ws, w);
    if (!lws) {
        orch_warn("%s: the server's launcher: %s", w->what, why);
        if (soup_websocket_connection_get_state(w->ws) ==
            SOUP_WEBSOCKET_STATE_OPEN) {
            soup_websocket_connection_close(w->ws,
                                            SOUP_WEBSOCKET_CLOSE_NORMAL,
                                            "cannot reach the console");
        }
    } else {
        orch_info("%s: a browser attached (through the server's "
                  "launcher)", w->what);
        for (GList *l = w->typed.head; l; l = l->next) {
            soup_websocket_connection_send_message(
                lws, SOUP_WEBSOCKET_DATA_BINARY, l->data);
        }
        dm_ws_relay_pair(w->ws, lws, w->what, ws_ended);
    }
    g_queue_clear_full(&w->typed, (GDestroyNotify)g_bytes_unref);
    g_object_unref(w->ws);
    g_object_unref(w->cancel);
    g_free(w->what);
    g_free(w);
}

void orch_ws_via_launcher(SoupWebsocketConnection *ws, const char *launcher,
                          const char *lpath, const char *what)
{
    WsWait *w = g_new0(WsWait, 1);

    w->ws = g_object_ref(ws);
    w->cancel = g_cancellable_new();
    w->what = g_strdup(what);
    g_queue_init(&w->typed);
    g_signal_connect(ws, "closed", G_CALLBACK(ws_wait_browser_closed), w);
    g_signal_connect(ws, "message", G_CALLBACK(ws_wait_typed), w);
    orch_launcher_websocket(launcher, lpath, w->cancel, ws_wait_launcher, w);
}
