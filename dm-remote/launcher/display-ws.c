/*
 * Server role: a display's screen over a WebSocket (see display-ws.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>
#include <gio/gunixsocketaddress.h>

#include "display-ws.h"
#include "http.h"
#include "log.h"
#include "rfb-auth.h"
#include "ws-relay.h"

#define DISPLAY_WS_INFO "display-ws-info"
/* What a viewer may send before the relay starts: its handshake (13). */
#define DISPLAY_WS_MAX_EARLY 4096

/* Where the display's VNC server is, and its password, from the check. */
typedef struct DisplayTarget {
    char *host;                 /* tcp: host and port */
    unsigned port;
    char *path;                 /* unix: */
    char *password;
} DisplayTarget;

static void display_target_free(DisplayTarget *t)
{
    g_free(t->host);
    g_free(t->path);
    if (t->password) {
        explicit_bzero(t->password, strlen(t->password));
        g_free(t->password);
    }
    g_free(t);
}

void dm_display_ws_check(DmServer *s, SoupServerMessage *msg,
                         const char *id)
{
    DmInstance *inst = g_hash_table_lookup(s->instances, id);
    DisplayTarget *t;

    if (!inst) {
        dm_http_error(msg, SOUP_STATUS_NOT_FOUND, "no instance '%s'", id);
        return;
    }
    if (!inst->vnc) {
        dm_http_error(msg, SOUP_STATUS_NOT_FOUND, "instance '%s' has no "
                      "display", id);
        return;
    }
    if (inst->state != DM_INST_RUNNING) {
        dm_http_error(msg, SOUP_STATUS_CONFLICT, "instance '%s' is not "
                      "running", id);
        return;
    }
    t = g_new0(DisplayTarget, 1);
    t->password = dm_instance_vnc_password(inst);
    if (inst->vnc_port) {
        t->host = g_strdup(s->vnc_host);
        t->port = inst->vnc_port;
    } else {
        t->path = g_strdup(inst->vnc_path);
    }
    g_object_set_data_full(G_OBJECT(msg), DISPLAY_WS_INFO, t,
                           (GDestroyNotify)display_target_free);
}

/*
 * One viewer on its way to the relay: the launcher's handshake with the
 * display's server first (the viewer waits for a version, so it sends
 * nothing meanwhile), then the viewer's with us.
 */
typedef enum {
    DW_SERVER,                  /* connecting, authenticating */
    DW_VERSION,                 /* waiting for the viewer's version */
    DW_SECURITY,                /* ... for its choice of None */
} DisplayPhase;

typedef struct DisplayWs {
    SoupWebsocketConnection *ws;
    GIOStream *io;
    GCancellable *cancel;
    char *id;
    char *password;
    GByteArray *early;          /* the viewer's bytes not yet used */
    DisplayPhase phase;
    bool minor8;                /* the viewer speaks 3.8 (else 3.7) */
    bool pending;               /* an async step will call us back */
    guint timer;
} DisplayWs;

static void display_ws_ended(const char *id, const char *why)
{
    dm_debug("display of instance %s: %s", id, why);
}

/* The end of the handshake's part: relayed if @why is NULL, else closed. */
static void display_ws_finish(DisplayWs *d, const char *why)
{
    g_autoptr(GBytes) rest = NULL;

    g_signal_handlers_disconnect_by_data(d->ws, d);
    if (d->timer) {
        g_source_remove(d->timer);
    }
    if (why) {
        dm_warn("display of instance %s: %s", d->id, why);
        if (soup_websocket_connection_get_state(d->ws) ==
            SOUP_WEBSOCKET_STATE_OPEN) {
            soup_websocket_connection_close(d->ws,
                                            SOUP_WEBSOCKET_CLOSE_NORMAL,
                                            "cannot reach the display");
        }
        if (d->io) {
            g_io_stream_close(d->io, NULL, NULL);
        }
    } else {
        dm_info("display of instance %s: a viewer attached", d->id);
        rest = g_byte_array_free_to_bytes(g_steal_pointer(&d->early));
        dm_ws_relay_stream_first(d->ws, d->io, rest, d->id,
                                 display_ws_ended);
    }
    if (d->early) {
        g_byte_array_unref(d->early);
    }
    g_clear_object(&d->io);
    g_object_unref(d->ws);
    g_object_unref(d->cancel);
    explicit_bzero(d->password, strlen(d->password));
    g_free(d->password);
    g_free(d->id);
    g_free(d);
}

/* Fail, now or when the async step in flight calls back. */
static void display_ws_abort(DisplayWs *d, const char *why)
{
    if (d->pending) {
        g_cancellable_cancel(d->cancel);
    } else {
        display_ws_finish(d, why);
    }
}

static void display_ws_send(DisplayWs *d, const void *data, gsize len)
{
    g_autoptr(GBytes) b = g_bytes_new(data, len);

    soup_websocket_connection_send_message(d->ws, SOUP_WEBSOCKET_DATA_BINARY,
                                           b);
}

/* Our server's part toward the viewer, as far as its bytes go. */
static void display_ws_viewer(DisplayWs *d)
{
    static const guint8 only_none[2] = { 1, 1 };   /* one type: None */
    static const guint8 result_ok[4] = { 0, 0, 0, 0 };
    const guint8 *b = d->early->data;

    if (d->phase == DW_VERSION && d->early->len >= 12) {
        if (memcmp(b, "RFB 003.00", 10) != 0 || b[11] != '\n' ||
            (b[10] != '7' && b[10] != '8')) {
            display_ws_finish(d, "the viewer speaks no RFB 3.7 or 3.8");
            return;
        }
        d->minor8 = b[10] == '8';
        g_byte_array_remove_range(d->early, 0, 12);
        display_ws_send(d, only_none, sizeof(only_none));
        d->phase = DW_SECURITY;
    }
    if (d->phase == DW_SECURITY && d->early->len >= 1) {
        if (d->early->data[0] != 1) {
            display_ws_finish(d, "the viewer chose a security type we "
                              "did not offer");
            return;
        }
        g_byte_array_remove_range(d->early, 0, 1);
        if (d->minor8) {
            /* 3.7 sends no result for None; 3.8 does. */
            display_ws_send(d, result_ok, sizeof(result_ok));
        }
        display_ws_finish(d, NULL);
    }
}

static void display_ws_message(SoupWebsocketConnection *ws, gint type,
                               GBytes *msg, gpointer opaque)
{
    DisplayWs *d = opaque;
    gsize len;
    const guint8 *data = g_bytes_get_data(msg, &len);

    if (d->early->len + len > DISPLAY_WS_MAX_EARLY) {
        display_ws_abort(d, "the viewer sent too much before its "
                         "handshake ended");
        return;
    }
    g_byte_array_append(d->early, data, len);
    if (d->phase != DW_SERVER) {
        display_ws_viewer(d);
    }
}

static void display_ws_closed(SoupWebsocketConnection *ws, gpointer opaque)
{
    display_ws_abort(opaque, "the viewer went away");
}

static gboolean display_ws_timeout(gpointer opaque)
{
    DisplayWs *d = opaque;

    d->timer = 0;
    display_ws_abort(d, "the handshake took too long");
    return G_SOURCE_REMOVE;
}

static void display_ws_authenticated(GIOStream *io, const char *why,
                                     gpointer opaque)
{
    DisplayWs *d = opaque;

    d->pending = false;
    if (!io) {
        display_ws_finish(d, g_cancellable_is_cancelled(d->cancel) ?
                          "the viewer went away (or the handshake took "
                          "too long)" : why);
        return;
    }
    /* Toward the viewer we are the server: our version first. */
    d->phase = DW_VERSION;
    display_ws_send(d, "RFB 003.008\n", 12);
    display_ws_viewer(d);
}

static void display_ws_connected(GObject *src, GAsyncResult *res,
                                 gpointer opaque)
{
    DisplayWs *d = opaque;
    g_autoptr(GError) err = NULL;
    GSocketConnection *conn =
        g_socket_client_connect_finish(G_SOCKET_CLIENT(src), res, &err);

    if (!conn) {
        d->pending = false;
        display_ws_finish(d, err->message);
        return;
    }
    d->io = G_IO_STREAM(conn);
    dm_rfb_auth(d->io, d->password, d->cancel, display_ws_authenticated, d);
}

void dm_display_ws_open(SoupServerMessage *msg, SoupWebsocketConnection *ws,
                        const char *id)
{
    DisplayTarget *t = g_object_get_data(G_OBJECT(msg), DISPLAY_WS_INFO);
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketConnectable) addr = NULL;
    DisplayWs *d;

    if (!t) {
        soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_NORMAL,
                                        "no display");
        return;
    }
    addr = t->path ? G_SOCKET_CONNECTABLE(g_unix_socket_address_new(t->path))
                   : g_network_address_new(t->host, t->port);
    d = g_new0(DisplayWs, 1);
    d->ws = g_object_ref(ws);
    d->cancel = g_cancellable_new();
    d->id = g_strdup(id);
    d->password = g_strdup(t->password ? t->password : "");
    d->early = g_byte_array_new();
    d->phase = DW_SERVER;
    d->pending = true;
    d->timer = g_timeout_add_seconds(DM_DISPLAY_WS_HANDSHAKE_SEC,
                                     display_ws_timeout, d);
    g_signal_connect(ws, "message", G_CALLBACK(display_ws_message), d);
    g_signal_connect(ws, "closed", G_CALLBACK(display_ws_closed), d);
    g_socket_client_connect_async(client, addr, d->cancel,
                                  display_ws_connected, d);
}
