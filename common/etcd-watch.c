/*
 * A watch on a prefix through etcd's gateway (etcd-watch.h).
 *
 * Threads: dm_etcd_watch_new() and _free() and every callback run on the
 * caller's context; watch_thread() and what it calls run in the watch's
 * thread, which owns the etcd client and the resume point (next_rev,
 * skip).  They share the Watch core: the config (read-only), @stopping
 * under @lock, and a reference count, since notices queued on the
 * context outlive the thread.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "etcd.h"
#include "etcd-watch.h"
#include "json-http.h"
#include "json-limits.h"

/* Pauses between tries while no endpoint answers. */
#define WATCH_PAUSE_MIN_MS 100
#define WATCH_PAUSE_MAX_MS 2000
#define WATCH_READ_CHUNK (64 * 1024)

typedef struct Watch {
    gint refs;
    char *endpoints, *ca, *cert, *key;
    char *prefix;
    GMainContext *ctx;
    DmEtcdWatchFunc func;
    gpointer opaque;
    GCancellable *cancel;
    GMutex lock;
    GCond cond;
    bool stopping;              /* under @lock; set by dm_etcd_watch_free */
    bool freed;                 /* on the caller's context: drop notices */
    /* The watch thread's. */
    gint64 next_rev;            /* resume from here (0: from now) */
    guint skip;                 /* of next_rev's events, already delivered */
    guint drop;                 /* of those, still to leave out */
    bool up;                    /* created on the current connection */
    bool down_said;             /* DOWN said for this outage */
} Watch;

struct DmEtcdWatch {
    Watch *w;
    GThread *thread;
};

/* What a message asks of the reading loop. */
typedef enum { MSG_OK, MSG_DROP, MSG_STOP } MsgResult;

static void watch_unref(Watch *w)
{
    if (!g_atomic_int_dec_and_test(&w->refs)) {
        return;
    }
    g_free(w->endpoints);
    g_free(w->ca);
    g_free(w->cert);
    g_free(w->key);
    g_free(w->prefix);
    g_main_context_unref(w->ctx);
    g_object_unref(w->cancel);
    g_mutex_clear(&w->lock);
    g_cond_clear(&w->cond);
    g_free(w);
}

static void watch_event_free(gpointer p)
{
    DmEtcdWatchEvent *ev = p;

    g_free(ev->key);
    g_free(ev->value);
    g_free(ev);
}

typedef struct Queued {
    Watch *w;
    DmEtcdWatchNotice n;
} Queued;

static void queued_free(gpointer p)
{
    Queued *q = p;

    if (q->n.events) {
        g_ptr_array_unref(q->n.events);
    }
    g_free(q->n.message);
    watch_unref(q->w);
    g_free(q);
}

static gboolean queued_dispatch(gpointer p)
{
    Queued *q = p;

    if (!q->w->freed) {
        q->w->func(&q->n, q->w->opaque);
    }
    return G_SOURCE_REMOVE;
}

/* Watch thread: hand @kind to the caller's context. */
static void watch_notify(Watch *w, DmEtcdWatchKind kind, gint64 revision,
                         GPtrArray *events, char *message)
{
    Queued *q = g_new0(Queued, 1);
    GSource *src;

    g_atomic_int_inc(&w->refs);
    q->w = w;
    q->n.kind = kind;
    q->n.revision = revision;
    q->n.events = events;
    q->n.message = message;
    /*
     * A source of its own, never g_main_context_invoke(): that one runs
     * the callback in this thread when the context is free to take (the
     * global default is this thread's default too).  Same priority,
     * attached in turn: dispatched in order.
     */
    src = g_idle_source_new();
    g_source_set_priority(src, G_PRIORITY_DEFAULT);
    g_source_set_callback(src, queued_dispatch, q, queued_free);
    g_source_attach(src, w->ctx);
    g_source_unref(src);
}

/* The first key past every key that begins with @prefix, base64. */
static char *watch_range_end(const char *prefix)
{
    g_autofree char *end = g_strdup(prefix);
    gssize i;

    for (i = (gssize)strlen(end) - 1; i >= 0; i--) {
        if ((guchar)end[i] < 0xff) {
            end[i]++;
            end[i + 1] = '\0';
            return dm_etcd_b64(end);
        }
    }
    return g_strdup("AA==");    /* "\0": every key */
}

static JsonNode *watch_request(Watch *w)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *key = *w->prefix ? dm_etcd_b64(w->prefix)
                                      : g_strdup("AA==");
    g_autofree char *end = watch_range_end(w->prefix);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "create_request");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "key");
    json_builder_add_string_value(b, key);
    json_builder_set_member_name(b, "range_end");
    json_builder_add_string_value(b, end);
    if (w->next_rev) {
        g_autofree char *rev = g_strdup_printf("%" G_GINT64_FORMAT,
                                               w->next_rev);

        json_builder_set_member_name(b, "start_revision");
        json_builder_add_string_value(b, rev);
    }
    /* A response over etcd's request size comes in parts: bounded lines. */
    json_builder_set_member_name(b, "fragment");
    json_builder_add_boolean_value(b, TRUE);
    json_builder_end_object(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* One event of a response; NULL if it is not one. */
static DmEtcdWatchEvent *watch_event(JsonNode *node)
{
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(node)
        ? json_node_get_object(node) : NULL;
    JsonObject *kv = o && json_object_has_member(o, "kv") &&
        JSON_NODE_HOLDS_OBJECT(json_object_get_member(o, "kv"))
        ? json_object_get_object_member(o, "kv") : NULL;
    const char *type;
    DmEtcdWatchEvent *ev;

    if (!kv || !json_object_has_member(kv, "key") ||
        dm_etcd_int(kv, "mod_revision") <= 0) {
        return NULL;
    }
    /* A PUT is protobuf's default: left out. */
    type = json_object_get_string_member_with_default(o, "type", "PUT");
    ev = g_new0(DmEtcdWatchEvent, 1);
    ev->deleted = g_strcmp0(type, "DELETE") == 0;
    ev->key = dm_etcd_unb64(
        json_object_get_string_member_with_default(kv, "key", ""), NULL);
    ev->value = dm_etcd_unb64(
        json_object_get_string_member_with_default(kv, "value", ""),
        &ev->value_len);
    ev->create_rev = dm_etcd_int(kv, "create_revision");
    ev->mod_rev = dm_etcd_int(kv, "mod_revision");
    return ev;
}

/*
 * A response's events, those delivered before a drop left out.  The
 * resume point (next_rev, skip) follows each event: a fragment may end
 * inside a revision, which is then resumed with its first @skip events
 * already delivered (@drop of them still to be left out on this
 * connection).  A whole response ends its last revision.
 */
static MsgResult watch_events(Watch *w, JsonArray *a, bool fragment,
                              GError **errp)
{
    g_autoptr(GPtrArray) out =
        g_ptr_array_new_with_free_func(watch_event_free);
    guint i;

    for (i = 0; i < json_array_get_length(a); i++) {
        DmEtcdWatchEvent *ev = watch_event(json_array_get_element(a, i));

        /* Revisions only grow, and stay below the top (next_rev + 1). */
        if (!ev || ev->mod_rev < w->next_rev || ev->mod_rev == G_MAXINT64 ||
            !g_str_has_prefix(ev->key, w->prefix)) {
            g_clear_pointer(&ev, watch_event_free);
            g_set_error(errp, DM_ETCD_ERROR, DM_ETCD_ERROR_REFUSED,
                        "watch: a bad event, one out of order or outside "
                        "the prefix");
            return MSG_DROP;
        }
        if (ev->mod_rev > w->next_rev) {
            w->next_rev = ev->mod_rev;
            w->skip = 0;
            w->drop = 0;
        }
        if (w->drop) {
            w->drop--;          /* delivered before the drop */
            watch_event_free(ev);
            continue;
        }
        w->skip++;
        g_ptr_array_add(out, ev);
    }
    if (!fragment && json_array_get_length(a)) {
        w->next_rev++;
        w->skip = 0;
        w->drop = 0;
    }
    if (out->len) {
        watch_notify(w, DM_ETCD_WATCH_EVENTS, 0, g_steal_pointer(&out),
                     NULL);
    }
    return MSG_OK;
}

/* One line of the stream. */
static MsgResult watch_message(Watch *w, const char *line, gsize len,
                               GError **errp)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) root = dm_json_parse_peer(line, len,
                                                  DM_JSON_MAX_DEPTH, &err);
    JsonObject *o, *r;

    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(errp, DM_ETCD_ERROR, DM_ETCD_ERROR_REFUSED,
                    "watch: a message refused: %s",
                    err ? err->message : "not a JSON object");
        return MSG_DROP;
    }
    o = json_node_get_object(root);
    if (json_object_has_member(o, "error")) {
        JsonNode *e = json_object_get_member(o, "error");
        JsonObject *eo = JSON_NODE_HOLDS_OBJECT(e)
            ? json_node_get_object(e) : NULL;

        g_set_error(errp, DM_ETCD_ERROR, DM_ETCD_ERROR_UNAVAILABLE,
                    "watch: %s", eo ? json_object_get_string_member_with_default(
                        eo, "message", "?") : "an error");
        return MSG_DROP;
    }
    if (!json_object_has_member(o, "result") ||
        !JSON_NODE_HOLDS_OBJECT(json_object_get_member(o, "result"))) {
        g_set_error(errp, DM_ETCD_ERROR, DM_ETCD_ERROR_REFUSED,
                    "watch: a message without a result");
        return MSG_DROP;
    }
    r = json_object_get_object_member(o, "result");
    if (json_object_get_boolean_member_with_default(r, "created", FALSE)) {
        if (!w->next_rev) {
            /* From now: the revision after the one it was created at. */
            JsonNode *h = json_object_get_member(r, "header");

            w->next_rev = 1 + dm_etcd_int(h && JSON_NODE_HOLDS_OBJECT(h)
                                          ? json_node_get_object(h) : NULL,
                                          "revision");
        }
        w->up = true;
        w->down_said = false;
        watch_notify(w, DM_ETCD_WATCH_UP, w->next_rev, NULL, NULL);
    }
    if (dm_etcd_int(r, "compact_revision") > 0) {
        watch_notify(w, DM_ETCD_WATCH_COMPACTED,
                     dm_etcd_int(r, "compact_revision"), NULL, NULL);
        return MSG_STOP;
    }
    if (json_object_get_boolean_member_with_default(r, "canceled", FALSE)) {
        g_set_error(errp, DM_ETCD_ERROR, DM_ETCD_ERROR_REFUSED,
                    "watch canceled by etcd: %s",
                    json_object_get_string_member_with_default(
                        r, "cancel_reason", "no reason given"));
        return MSG_DROP;
    }
    if (json_object_has_member(r, "events")) {
        JsonNode *a = json_object_get_member(r, "events");

        if (!JSON_NODE_HOLDS_ARRAY(a)) {
            g_set_error(errp, DM_ETCD_ERROR, DM_ETCD_ERROR_REFUSED,
                        "watch: events that are not an array");
            return MSG_DROP;
        }
        return watch_events(w, json_node_get_array(a),
            json_object_get_boolean_member_with_default(r, "fragment",
                                                        FALSE), errp);
    }
    return MSG_OK;
}

/*
 * Read @in's lines until it ends, fails, goes quiet for the client's
 * timeout, or a message says stop.  MSG_DROP with why.
 */
static MsgResult watch_read(Watch *w, GInputStream *in, GError **errp)
{
    g_autoptr(GByteArray) buf = g_byte_array_new();
    gsize scanned = 0;

    for (;;) {
        gsize old = buf->len;
        gssize n;
        guint8 *nl;

        g_byte_array_set_size(buf, old + WATCH_READ_CHUNK);
        n = g_input_stream_read(in, buf->data + old, WATCH_READ_CHUNK,
                                w->cancel, errp);
        g_byte_array_set_size(buf, old + MAX(n, 0));
        if (n < 0) {
            return MSG_DROP;
        }
        if (n == 0) {
            g_set_error(errp, DM_ETCD_ERROR, DM_ETCD_ERROR_UNAVAILABLE,
                        "watch: the connection ended");
            return MSG_DROP;
        }
        while ((nl = memchr(buf->data + scanned, '\n',
                            buf->len - scanned))) {
            gsize len = nl - buf->data;
            MsgResult res = MSG_OK;

            if (len > DM_ETCD_WATCH_MAX_MSG) {
                break;
            }
            if (len) {
                res = watch_message(w, (const char *)buf->data, len, errp);
            }
            g_byte_array_remove_range(buf, 0, len + 1);
            scanned = 0;
            if (res != MSG_OK) {
                return res;
            }
        }
        scanned = buf->len;
        if (buf->len > DM_ETCD_WATCH_MAX_MSG) {
            g_set_error(errp, DM_ETCD_ERROR, DM_ETCD_ERROR_REFUSED,
                        "watch: a message longer than %d bytes",
                        DM_ETCD_WATCH_MAX_MSG);
            return MSG_DROP;
        }
    }
}

/* Wait @ms or until stopped; true if stopped. */
static bool watch_pause(Watch *w, guint ms)
{
    gint64 until = g_get_monotonic_time() + ms * G_TIME_SPAN_MILLISECOND;
    bool stop;

    g_mutex_lock(&w->lock);
    while (!w->stopping && g_cond_wait_until(&w->cond, &w->lock, until)) {
    }
    stop = w->stopping;
    g_mutex_unlock(&w->lock);
    return stop;
}

static gpointer watch_thread(gpointer opaque)
{
    Watch *w = opaque;
    g_autoptr(GError) err = NULL;
    g_autoptr(DmEtcd) e = dm_etcd_new(w->endpoints, w->ca, w->cert, w->key,
                                      &err);
    guint pause = 0;

    if (!e) {
        /* Checked by dm_etcd_watch_new: a file changed since. */
        watch_notify(w, DM_ETCD_WATCH_DOWN, w->next_rev, NULL,
                     g_strdup(err->message));
        return NULL;
    }
    dm_etcd_set_timeout(e, DM_ETCD_WATCH_IDLE_S);
    while (!watch_pause(w, pause)) {
        g_autoptr(JsonNode) req = watch_request(w);
        g_autoptr(GInputStream) in = NULL;
        MsgResult res;

        gint64 began = g_get_monotonic_time();

        g_clear_error(&err);
        w->up = false;
        w->drop = w->skip;
        in = dm_etcd_call_stream(e, "/v3/watch", req, w->cancel, &err);
        res = in ? watch_read(w, in, &err) : MSG_DROP;
        if (in) {
            g_input_stream_close(in, NULL, NULL);
        }
        if (res == MSG_STOP || g_cancellable_is_cancelled(w->cancel)) {
            break;
        }
        if (w->up && g_get_monotonic_time() - began >
            WATCH_PAUSE_MAX_MS * G_TIME_SPAN_MILLISECOND) {
            /*
             * It was working: try again at once (the next endpoint).  Not
             * one that drops it at once again: that one waits, as below.
             */
            pause = 0;
            continue;
        }
        if (!w->up && !w->down_said) {
            w->down_said = true;
            watch_notify(w, DM_ETCD_WATCH_DOWN, w->next_rev, NULL,
                         g_strdup(err ? err->message : "?"));
        }
        pause = CLAMP(pause * 2, WATCH_PAUSE_MIN_MS, WATCH_PAUSE_MAX_MS);
    }
    watch_unref(w);
    return NULL;
}

DmEtcdWatch *dm_etcd_watch_new(const char *endpoints, const char *ca,
                               const char *cert, const char *key,
                               const char *prefix, gint64 start_rev,
                               GMainContext *ctx, DmEtcdWatchFunc func,
                               gpointer opaque, GError **errp)
{
    /* The same checks as the thread's client will make, said here. */
    g_autoptr(DmEtcd) check = dm_etcd_new(endpoints, ca, cert, key, errp);
    DmEtcdWatch *dw;
    Watch *w;

    if (!check) {
        return NULL;
    }
    w = g_new0(Watch, 1);
    w->refs = 2;                /* ours and the thread's */
    w->endpoints = g_strdup(endpoints);
    w->ca = g_strdup(ca);
    w->cert = g_strdup(cert);
    w->key = g_strdup(key);
    w->prefix = g_strdup(prefix);
    w->ctx = g_main_context_ref(ctx ? ctx : g_main_context_default());
    w->func = func;
    w->opaque = opaque;
    w->cancel = g_cancellable_new();
    g_mutex_init(&w->lock);
    g_cond_init(&w->cond);
    w->next_rev = MAX(start_rev, 0);
    dw = g_new0(DmEtcdWatch, 1);
    dw->w = w;
    dw->thread = g_thread_new("etcd-watch", watch_thread, w);
    return dw;
}

void dm_etcd_watch_free(DmEtcdWatch *dw)
{
    Watch *w;

    if (!dw) {
        return;
    }
    w = dw->w;
    w->freed = true;
    g_mutex_lock(&w->lock);
    w->stopping = true;
    g_cond_signal(&w->cond);
    g_mutex_unlock(&w->lock);
    g_cancellable_cancel(w->cancel);
    g_thread_join(dw->thread);
    watch_unref(w);
    g_free(dw);
}
