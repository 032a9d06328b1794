/*
 * dm-orchestrator: server-sent events (see stream.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <string.h>

#include "json-http.h"
#include "log.h"
#include "store-events.h"
#include "stream.h"

/* Rows read for one client per tick: a backlog drains over ticks. */
#define STREAM_ROWS_PER_TICK 200
/* A comment now and then finds a browser that went away silently. */
#define STREAM_PING_TICKS (15000 / ORCH_STREAM_TICK_MS)

typedef struct StreamClient {
    OrchStream *stream;
    SoupServerMessage *msg;
    gint64 last;                /* the last event id sent */
    gsize queued;               /* appended, not yet written */
    gint64 progress;            /* when it last took bytes, or got some */
    bool dropped;
    bool behind;                /* the store may hold events it lacks */
} StreamClient;

struct OrchStream {
    GList *clients;
    guint timer;
    guint ticks;
    /* On etcd, while a client is connected: what wakes the clients. */
    DmEtcdWatch *watch;
    bool watch_down;
};

static void stream_error(SoupServerMessage *msg, guint status,
                         const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void stream_error(SoupServerMessage *msg, guint status,
                         const char *fmt, ...)
{
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    JsonObject *o = json_object_new();
    g_autofree char *text = NULL;
    va_list ap;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    json_object_set_string_member(o, "error", text);
    json_node_take_object(node, o);
    dm_json_http_respond(msg, status, node, true);
}

static void stream_send(StreamClient *c, char *text)
{
    SoupMessageBody *body = soup_server_message_get_response_body(c->msg);
    gsize len = strlen(text);

    if (c->queued == 0) {
        c->progress = g_get_monotonic_time();
    }
    c->queued += len;
    soup_message_body_append(body, SOUP_MEMORY_TAKE, text, len);
    soup_server_message_unpause(c->msg);
}

/*
 * Over the bound: cut the connection under libsoup, which then fails
 * the write and finishes the message (stream_finished).
 */
static void stream_drop(StreamClient *c)
{
    GSocket *sock = soup_server_message_get_socket(c->msg);
    GSocketAddress *peer = soup_server_message_get_remote_address(c->msg);
    g_autofree char *who = peer ?
        g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(peer)) : NULL;

    orch_warn("events stream: dropped %s: %" G_GSIZE_FORMAT " bytes "
              "unread for %d s", who && *who ? who : "a client",
              c->queued, ORCH_STREAM_STALL_MS / 1000);
    c->dropped = true;
    if (sock) {
        g_socket_shutdown(sock, TRUE, TRUE, NULL);
    }
}

/* Send @c the events after its last one; false if it was dropped. */
static bool stream_client_feed(OrchStream *s, StreamClient *c)
{
    g_autoptr(JsonArray) events = NULL;
    guint i;

    if (c->queued >= ORCH_STREAM_MAX_QUEUED) {
        if (g_get_monotonic_time() - c->progress >
            ORCH_STREAM_STALL_MS * 1000) {
            stream_drop(c);
            return false;
        }
        return true;
    }
    /* A store that failed is asked again at the next tick. */
    events = orch_events_read(c->last, STREAM_ROWS_PER_TICK, NULL, NULL);
    c->behind = !events ||
        json_array_get_length(events) == STREAM_ROWS_PER_TICK;
    for (i = 0; events && i < json_array_get_length(events); i++) {
        JsonObject *o = json_array_get_object_element(events, i);
        g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
        g_autofree char *data = NULL;

        json_node_set_object(node, o);
        data = json_to_string(node, false);
        c->last = json_object_get_int_member(o, "id");
        stream_send(c, g_strdup_printf("id: %" G_GINT64_FORMAT
                                       "\nevent: vm\ndata: %s\n\n",
                                       c->last, data));
        if (c->queued >= ORCH_STREAM_MAX_QUEUED) {
            c->behind = true;   /* the rest when its queue drains */
            break;
        }
    }
    return true;
}

static gboolean stream_tick(gpointer opaque)
{
    OrchStream *s = opaque;
    bool ping = ++s->ticks % STREAM_PING_TICKS == 0;
    GList *l;

    for (l = s->clients; l; l = l->next) {
        StreamClient *c = l->data;

        if (c->dropped) {
            continue;
        }
        /*
         * Without a watch (SQLite, a local file) the store is polled;
         * with one, read when the watch saw an event or a backlog waits
         * (a full queue, checked for a stall, is one).
         */
        if ((!s->watch || c->behind) && !stream_client_feed(s, c)) {
            continue;
        }
        if (ping) {
            stream_send(c, g_strdup(": ping\n\n"));
        }
    }
    return G_SOURCE_CONTINUE;
}

static void stream_watch_stop(OrchStream *s)
{
    g_clear_pointer(&s->watch, dm_etcd_watch_free);
    s->watch_down = false;
}

static void stream_watch_start(OrchStream *s);

static void stream_all_behind(OrchStream *s)
{
    GList *l;

    for (l = s->clients; l; l = l->next) {
        ((StreamClient *)l->data)->behind = true;
    }
}

/* The watch's news, on the main thread: wake the clients. */
static void stream_watched(const DmEtcdWatchNotice *n, gpointer opaque)
{
    OrchStream *s = opaque;

    switch (n->kind) {
    case DM_ETCD_WATCH_EVENTS:
        /* Read at the next tick, in the store's order, as polling did. */
        stream_all_behind(s);
        break;
    case DM_ETCD_WATCH_UP:
        if (s->watch_down) {
            orch_info("events stream: the store's watch resumed");
            s->watch_down = false;
        }
        break;
    case DM_ETCD_WATCH_DOWN:
        /* It resumes where it was: nothing is lost meanwhile. */
        orch_warn("events stream: the store's watch: %s, retrying",
                  n->message);
        s->watch_down = true;
        break;
    case DM_ETCD_WATCH_COMPACTED:
        /*
         * Events may have gone by unseen: read the store for every
         * client (by id, so none is lost) and watch again from now.
         */
        orch_warn("events stream: the store's watch fell behind etcd's "
                  "compaction (revision %" G_GINT64_FORMAT "), restarted",
                  n->revision);
        stream_watch_stop(s);
        stream_all_behind(s);
        stream_watch_start(s);
        break;
    }
}

/* On etcd, a watch wakes the clients; else (or failing that) they poll. */
static void stream_watch_start(OrchStream *s)
{
    g_autoptr(GError) err = NULL;

    s->watch = orch_events_watch(NULL, stream_watched, s, &err);
    if (!s->watch && err) {
        orch_warn("events stream: no watch on the store, polling: %s",
                  err->message);
    }
}

static void stream_wrote_chunk(SoupServerMessage *msg, guint size,
                               gpointer opaque)
{
    StreamClient *c = opaque;

    c->queued = c->queued > size ? c->queued - size : 0;
    c->progress = g_get_monotonic_time();
}

static void stream_finished(SoupServerMessage *msg, gpointer opaque)
{
    StreamClient *c = opaque;
    OrchStream *s = c->stream;

    s->clients = g_list_remove(s->clients, c);
    if (!s->clients && s->timer) {
        g_source_remove(s->timer);
        s->timer = 0;
    }
    if (!s->clients) {
        stream_watch_stop(s);
    }
    g_signal_handlers_disconnect_by_data(msg, c);
    g_object_unref(msg);
    g_free(c);
}

OrchStream *orch_stream_new(void)
{
    return g_new0(OrchStream, 1);
}

void orch_stream_free(OrchStream *s)
{
    GList *l;

    if (!s) {
        return;
    }
    for (l = s->clients; l; l = l->next) {
        StreamClient *c = l->data;

        /* Their messages die with the server's connections. */
        g_signal_handlers_disconnect_by_data(c->msg, c);
        g_object_unref(c->msg);
        g_free(c);
    }
    g_list_free(s->clients);
    if (s->timer) {
        g_source_remove(s->timer);
    }
    stream_watch_stop(s);
    g_free(s);
}

/* Where to start: since=, else Last-Event-ID, else the newest event. */
static bool stream_since(OrchStream *s, SoupServerMessage *msg,
                         GHashTable *query, gint64 *ret)
{
    const char *v = query ? g_hash_table_lookup(query, "since") : NULL;
    GHashTableIter it;
    gpointer key;
    char *end;

    if (query) {
        g_hash_table_iter_init(&it, query);
        while (g_hash_table_iter_next(&it, &key, NULL)) {
            if (strcmp(key, "since") != 0) {
                stream_error(msg, 400, "unknown parameter '%s' (since)",
                             (const char *)key);
                return false;
            }
        }
    }
    if (!v) {
        v = soup_message_headers_get_one(
            soup_server_message_get_request_headers(msg), "Last-Event-ID");
    }
    if (!v) {
        *ret = orch_events_last_id();
        if (*ret < 0) {
            stream_error(msg, 503, "the store did not answer");
            return false;
        }
        return true;
    }
    errno = 0;
    *ret = g_ascii_strtoll(v, &end, 10);
    if (errno || !*v || *end || *ret < 0) {
        stream_error(msg, 400, "bad 'since': '%s' (an event id)", v);
        return false;
    }
    return true;
}

void orch_stream_open(OrchStream *s, SoupServerMessage *msg,
                      GHashTable *query)
{
    SoupMessageHeaders *out = soup_server_message_get_response_headers(msg);
    StreamClient *c;
    gint64 since;

    if (!stream_since(s, msg, query, &since)) {
        return;
    }
    if (g_list_length(s->clients) >= ORCH_STREAM_MAX_CLIENTS) {
        stream_error(msg, 503, "%d event streams are open already",
                     ORCH_STREAM_MAX_CLIENTS);
        return;
    }
    c = g_new0(StreamClient, 1);
    c->stream = s;
    c->msg = g_object_ref(msg);
    c->last = since;
    c->behind = true;
    if (!s->clients) {
        /* Before the client's first read: nothing after it goes unseen. */
        stream_watch_start(s);
    }
    s->clients = g_list_prepend(s->clients, c);
    soup_server_message_set_status(msg, 200, NULL);
    soup_message_headers_set_content_type(out, "text/event-stream", NULL);
    soup_message_headers_replace(out, "Cache-Control", "no-cache");
    soup_message_headers_set_encoding(out, SOUP_ENCODING_CHUNKED);
    soup_message_body_set_accumulate(
        soup_server_message_get_response_body(msg), FALSE);
    g_signal_connect(msg, "wrote-chunk", G_CALLBACK(stream_wrote_chunk), c);
    g_signal_connect(msg, "finished", G_CALLBACK(stream_finished), c);
    /* The headers go out at once: the browser's EventSource opens. */
    stream_send(c, g_strdup(": dm-orchestrator events\nretry: 2000\n\n"));
    if (!s->timer) {
        s->timer = g_timeout_add(ORCH_STREAM_TICK_MS, stream_tick, s);
    }
}
