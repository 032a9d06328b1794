/*
 * Relaying a WebSocket to a byte stream or to another WebSocket (see
 * ws-relay.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdbool.h>

#include "ws-relay.h"

#define WS_RELAY_READ 4096

/* One relay: @ws and either @stream or @peer. */
typedef struct WsRelay {
    int refs;
    SoupWebsocketConnection *ws;
    SoupWebsocketConnection *peer;
    GIOStream *stream;
    GCancellable *cancel;
    GQueue out;                 /* GBytes for the stream */
    gsize queued;
    bool writing;
    char *label;
    DmWsRelayEndFn *end;
} WsRelay;

static WsRelay *relay_ref(WsRelay *r)
{
    r->refs++;
    return r;
}

static void relay_unref(WsRelay *r)
{
    if (--r->refs) {
        return;
    }
    g_queue_clear_full(&r->out, (GDestroyNotify)g_bytes_unref);
    g_object_unref(r->cancel);
    g_clear_object(&r->stream);
    g_clear_object(&r->peer);
    g_object_unref(r->ws);
    g_free(r->label);
    g_free(r);
}

static void ws_close(SoupWebsocketConnection *ws, const char *why)
{
    if (ws && soup_websocket_connection_get_state(ws) ==
        SOUP_WEBSOCKET_STATE_OPEN) {
        soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_NORMAL,
                                        why);
    }
}

/* Either side ended: end both, once. */
static void relay_close(WsRelay *r, const char *why)
{
    if (g_cancellable_is_cancelled(r->cancel)) {
        return;
    }
    if (r->end) {
        r->end(r->label, why);
    }
    g_cancellable_cancel(r->cancel);
    if (r->stream) {
        g_io_stream_close(r->stream, NULL, NULL);
    }
    ws_close(r->ws, why);
    ws_close(r->peer, why);
}

/* ---- WebSocket <-> stream ---- */

static void relay_read(WsRelay *r);

static void relay_read_done(GObject *src, GAsyncResult *res, gpointer opaque)
{
    WsRelay *r = opaque;
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

static void relay_read(WsRelay *r)
{
    g_input_stream_read_bytes_async(g_io_stream_get_input_stream(r->stream),
                                    WS_RELAY_READ, G_PRIORITY_DEFAULT,
                                    r->cancel, relay_read_done,
                                    relay_ref(r));
}

static void relay_write(WsRelay *r);

static void relay_write_done(GObject *src, GAsyncResult *res,
                             gpointer opaque)
{
    WsRelay *r = opaque;
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
static void relay_write(WsRelay *r)
{
    GBytes *b = g_queue_peek_head(&r->out);

    if (r->writing || !b || g_cancellable_is_cancelled(r->cancel)) {
        return;
    }
    r->writing = true;
    g_output_stream_write_all_async(g_io_stream_get_output_stream(r->stream),
                                    g_bytes_get_data(b, NULL),
                                    g_bytes_get_size(b), G_PRIORITY_DEFAULT,
                                    r->cancel, relay_write_done,
                                    relay_ref(r));
}

static void relay_to_stream(SoupWebsocketConnection *ws, gint type,
                            GBytes *msg, gpointer opaque)
{
    WsRelay *r = opaque;

    if (r->queued + g_bytes_get_size(msg) > DM_WS_RELAY_MAX_QUEUED) {
        relay_close(r, "typed faster than the console takes");
        return;
    }
    r->queued += g_bytes_get_size(msg);
    g_queue_push_tail(&r->out, g_bytes_ref(msg));
    relay_write(r);
}

/* ---- WebSocket <-> WebSocket ---- */

/*
 * libsoup queues what it sends without bound: a far side that stops
 * reading is noticed by the keepalive, and the console's own rate (a
 * UART's) bounds what comes from it.
 */
static void relay_to_peer(SoupWebsocketConnection *ws, gint type,
                          GBytes *msg, gpointer opaque)
{
    WsRelay *r = opaque;
    SoupWebsocketConnection *to = ws == r->ws ? r->peer : r->ws;

    if (!g_cancellable_is_cancelled(r->cancel)) {
        soup_websocket_connection_send_message(to, type, msg);
    }
}

/* ---- Both ---- */

static void relay_closed(SoupWebsocketConnection *ws, gpointer opaque)
{
    WsRelay *r = opaque;

    relay_close(r, ws == r->ws ? "the first side closed" :
                "the second side closed");
    g_signal_handlers_disconnect_by_data(ws, r);
    relay_unref(r);
}

static WsRelay *relay_new(SoupWebsocketConnection *ws, const char *label,
                          DmWsRelayEndFn *end)
{
    WsRelay *r = g_new0(WsRelay, 1);

    r->refs = 1;                /* the ws's "closed" handler's */
    r->ws = g_object_ref(ws);
    r->cancel = g_cancellable_new();
    r->label = g_strdup(label);
    r->end = end;
    g_queue_init(&r->out);
    soup_websocket_connection_set_keepalive_interval(ws, 30);
    g_signal_connect(ws, "closed", G_CALLBACK(relay_closed), r);
    return r;
}

void dm_ws_relay_stream_first(SoupWebsocketConnection *ws, GIOStream *stream,
                              GBytes *first, const char *label,
                              DmWsRelayEndFn *end)
{
    WsRelay *r = relay_new(ws, label, end);

    r->stream = g_object_ref(stream);
    g_signal_connect(ws, "message", G_CALLBACK(relay_to_stream), r);
    if (first && g_bytes_get_size(first)) {
        relay_to_stream(ws, SOUP_WEBSOCKET_DATA_BINARY, first, r);
    }
    relay_read(r);
}

void dm_ws_relay_stream(SoupWebsocketConnection *ws, GIOStream *stream,
                        const char *label, DmWsRelayEndFn *end)
{
    dm_ws_relay_stream_first(ws, stream, NULL, label, end);
}

void dm_ws_relay_pair(SoupWebsocketConnection *a, SoupWebsocketConnection *b,
                      const char *label, DmWsRelayEndFn *end)
{
    WsRelay *r = relay_new(a, label, end);

    r->peer = g_object_ref(b);
    soup_websocket_connection_set_keepalive_interval(b, 30);
    g_signal_connect(a, "message", G_CALLBACK(relay_to_peer), r);
    g_signal_connect(b, "message", G_CALLBACK(relay_to_peer), r);
    g_signal_connect(b, "closed", G_CALLBACK(relay_closed), relay_ref(r));
}
