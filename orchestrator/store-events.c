/*
 * dm-orchestrator: the events on the store (store-events.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "error.h"
#include "json-http.h"
#include "json-limits.h"
#include "log.h"
#include "store-events.h"

#define EVENTS_PREFIX "/dm/events/"
/* Keys read at once while filtering by VM: a page, not the whole log. */
#define EVENTS_PAGE 200
/* Ids taken by other orchestrators meanwhile, before giving up. */
#define EVENTS_TRIES 16

typedef struct EventPending {
    char *vm;
    char *message;
    char *time;
} EventPending;

static OrchStore *events_store;
/* Appends, one at a time: the next id is this process's guess. */
static GMutex events_lock;
static gint64 events_next;
static __thread GPtrArray *events_deferred;

static char *events_key(gint64 id)
{
    return g_strdup_printf(EVENTS_PREFIX "%020" G_GINT64_FORMAT, id);
}

/* The id of an event's key; 0 if it is not one. */
static gint64 events_key_id(const char *key)
{
    const char *s = key + strlen(EVENTS_PREFIX);

    return g_str_has_prefix(key, EVENTS_PREFIX)
        ? g_ascii_strtoll(s, NULL, 10) : 0;
}

gint64 orch_events_last_id(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) last = orch_store_range(events_store, EVENTS_PREFIX,
                                                 NULL, 1, true, NULL, &err);

    if (!last) {
        orch_warn("events: %s", err->message);
        return -1;
    }
    return last->len ? events_key_id(((OrchKv *)last->pdata[0])->key) : 0;
}

DmEtcdWatch *orch_events_watch(GMainContext *ctx, DmEtcdWatchFunc func,
                               gpointer opaque, GError **errp)
{
    g_autoptr(GPtrArray) last = NULL;
    gint64 rev = 0;

    if (!events_store || strcmp(orch_store_kind(events_store), "etcd")) {
        return NULL;
    }
    last = orch_store_range(events_store, EVENTS_PREFIX, NULL, 1, true, &rev,
                            errp);
    if (!last) {
        return NULL;
    }
    return orch_store_watch(events_store, EVENTS_PREFIX, rev + 1, ctx, func,
                            opaque, errp);
}

bool orch_events_open(OrchStore *s, GError **errp)
{
    gint64 last;

    events_store = s;
    last = orch_events_last_id();
    if (last < 0) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_UNAVAILABLE,
                    "events: the store did not answer");
        events_store = NULL;
        return false;
    }
    events_next = last + 1;
    return true;
}

void orch_events_close(void)
{
    /* A thread appending (dm-watch.c) is done with the store first. */
    g_mutex_lock(&events_lock);
    events_store = NULL;
    g_mutex_unlock(&events_lock);
}

static char *events_doc(gint64 id, const EventPending *e)
{
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    JsonObject *o = json_object_new();

    json_object_set_int_member(o, "id", id);
    json_object_set_string_member(o, "time", e->time);
    json_object_set_string_member(o, "vm", e->vm);
    json_object_set_string_member(o, "message", e->message);
    json_node_take_object(node, o);
    return json_to_string(node, false);
}

/* Write @e under the next free id. */
static void events_append(const EventPending *e)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&events_lock);
    guint tries;

    if (!events_store) {
        return;
    }
    for (tries = 0; tries < EVENTS_TRIES; tries++) {
        g_autoptr(OrchTxn) t = orch_txn_new();
        g_autoptr(GError) err = NULL;
        g_autofree char *key = events_key(events_next);
        g_autofree char *doc = events_doc(events_next, e);
        gint64 last;

        /* Absent: another orchestrator may have taken this id. */
        orch_txn_if_rev(t, key, 0);
        orch_txn_put(t, key, doc);
        if (orch_store_txn(events_store, t, NULL, &err)) {
            events_next++;
            return;
        }
        if (!g_error_matches(err, ORCH_ERROR, ORCH_ERROR_CONFLICT)) {
            orch_warn("events: VM %s: '%s' lost: %s", e->vm, e->message,
                      err->message);
            return;
        }
        last = orch_events_last_id();
        if (last < 0) {
            break;
        }
        events_next = MAX(events_next + 1, last + 1);
    }
    orch_warn("events: VM %s: '%s' lost: no free id", e->vm, e->message);
}

static void events_pending_free(gpointer p)
{
    EventPending *e = p;

    g_free(e->vm);
    g_free(e->message);
    g_free(e->time);
    g_free(e);
}

void orch_events_add(const char *vm, const char *message)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    EventPending *e = g_new0(EventPending, 1);

    e->vm = g_strdup(vm);
    e->message = g_strdup(message);
    /* When it happened, not when it was written. */
    e->time = g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
    if (events_deferred) {
        g_ptr_array_add(events_deferred, e);
        return;
    }
    events_append(e);
    events_pending_free(e);
}

void orch_events_defer(void)
{
    if (!events_deferred) {
        events_deferred = g_ptr_array_new_with_free_func(events_pending_free);
    }
}

void orch_events_flush(bool keep)
{
    g_autoptr(GPtrArray) pending = g_steal_pointer(&events_deferred);
    guint i;

    for (i = 0; keep && pending && i < pending->len; i++) {
        events_append(pending->pdata[i]);
    }
}

/* Add @kvs' events (of @vm, if not NULL) to @out; the last id seen. */
static gint64 events_add_rows(JsonArray *out, GPtrArray *kvs,
                              const char *vm)
{
    gint64 last = 0;
    guint i;

    for (i = 0; i < kvs->len; i++) {
        OrchKv *kv = kvs->pdata[i];
        /* Read back from etcd, perhaps written by another: depth checked. */
        g_autoptr(JsonNode) node = dm_json_parse_peer(
            kv->value, strlen(kv->value), DM_JSON_MAX_DEPTH, NULL);
        JsonObject *o;

        last = events_key_id(kv->key);
        if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
            orch_warn("events: %s is not a JSON object, skipped", kv->key);
            continue;
        }
        o = json_node_get_object(node);
        if (vm && g_strcmp0(json_object_get_string_member_with_default(
                                o, "vm", NULL), vm)) {
            continue;
        }
        json_array_add_object_element(out, json_object_ref(o));
    }
    return last;
}

JsonArray *orch_events_read(gint64 since, gint64 limit, const char *vm,
                            GError **errp)
{
    g_autoptr(JsonArray) out = json_array_new();
    g_autoptr(GPtrArray) kvs = NULL;

    if (since < 0 && !vm) {
        kvs = orch_store_range(events_store, EVENTS_PREFIX, NULL, limit,
                               true, NULL, errp);
        if (!kvs) {
            return NULL;
        }
        events_add_rows(out, kvs, NULL);
        return g_steal_pointer(&out);
    }
    if (since < 0) {
        /* One VM's last: the whole log, read once, its tail kept. */
        kvs = orch_store_list(events_store, EVENTS_PREFIX, NULL, errp);
        if (!kvs) {
            return NULL;
        }
        events_add_rows(out, kvs, vm);
        while (json_array_get_length(out) > (guint)limit) {
            json_array_remove_element(out, 0);
        }
        return g_steal_pointer(&out);
    }
    /* After @since, a page at a time until @limit are found. */
    while (since < G_MAXINT64 &&
           json_array_get_length(out) < (guint)limit) {
        g_autofree char *from = events_key(since + 1);
        gint64 page = vm ? EVENTS_PAGE : limit - json_array_get_length(out);

        g_clear_pointer(&kvs, g_ptr_array_unref);
        kvs = orch_store_range(events_store, EVENTS_PREFIX, from, page, false,
                               NULL, errp);
        if (!kvs) {
            return NULL;
        }
        since = events_add_rows(out, kvs, vm);
        if ((gint64)kvs->len < page) {
            break;
        }
    }
    while (json_array_get_length(out) > (guint)limit) {
        json_array_remove_element(out, json_array_get_length(out) - 1);
    }
    return g_steal_pointer(&out);
}
