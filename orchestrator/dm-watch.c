/*
 * dm-orchestrator: watch the placed device models (see dm-watch.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdbool.h>
#include <string.h>

#include "db.h"
#include "dm-watch.h"
#include "launcher.h"
#include "lead.h"
#include "log.h"
#include "records.h"
#include "records-bind.h"
#include "vm.h"

typedef struct DmWatch {
    char *db_path;
    guint interval_s;
} DmWatch;

typedef struct WatchedDm {
    char *vm, *device, *model, *server, *address, *instance;
} WatchedDm;

static void watched_free(gpointer p)
{
    WatchedDm *w = p;

    g_free(w->vm);
    g_free(w->device);
    g_free(w->model);
    g_free(w->server);
    g_free(w->address);
    g_free(w->instance);
    g_free(w);
}

/*
 * The placements now, read at once (no statement open during calls):
 * every VM's placed devices, from their documents (records.h).
 */
static GPtrArray *watch_placements(sqlite3 *db)
{
    GPtrArray *all = g_ptr_array_new_with_free_func(watched_free);
    g_autoptr(GPtrArray) names = orch_rec_vm_names(db);
    guint i, j;

    for (i = 0; i < names->len; i++) {
        const char *vm = names->pdata[i];
        g_autoptr(JsonObject) doc = orch_rec_vm(db, vm);
        JsonArray *devs = doc ? json_object_get_array_member(doc, "devices") :
            NULL;

        for (j = 0; devs && j < json_array_get_length(devs); j++) {
            JsonObject *d = json_array_get_object_element(devs, j);
            g_autoptr(JsonObject) p = orch_rec_placement(
                db, vm, orch_rec_str(d, "name"));
            g_autoptr(JsonObject) s = p ? orch_rec_platform(
                db, orch_rec_str(p, "server")) : NULL;
            WatchedDm *w;

            if (!s) {
                continue;
            }
            w = g_new0(WatchedDm, 1);
            w->vm = g_strdup(vm);
            w->device = g_strdup(orch_rec_str(d, "name"));
            w->model = g_strdup(orch_rec_str(d, "model"));
            w->server = g_strdup(orch_rec_str(p, "server"));
            w->address = g_strdup(orch_rec_str(s, "address"));
            w->instance = g_strdup(orch_rec_str(p, "instance"));
            g_ptr_array_add(all, w);
        }
    }
    return all;
}

/* Compare @w's instance now with what was @seen; record a change. */
static void watch_one(GHashTable *seen, GHashTable *now, WatchedDm *w)
{
    g_autofree char *path = g_strconcat("/v1/instances/", w->instance,
                                        NULL);
    g_autoptr(JsonNode) reply = NULL;
    g_autoptr(GError) err = NULL;
    const char *state, *before;
    guint status = 0;
    gint64 restarts, was = 0;
    JsonObject *o;

    if (!orch_launcher_call(w->address, "GET", path, NULL, &status, &reply,
                            &err) || status != 200 || !reply ||
        !JSON_NODE_HOLDS_OBJECT(reply)) {
        return;                 /* unreachable: GET /v1/dms says so */
    }
    o = json_node_get_object(reply);
    state = json_object_get_string_member_with_default(o, "state", "?");
    restarts = json_object_get_int_member_with_default(o, "restarts", 0);
    g_hash_table_insert(now, g_strdup(w->instance),
                        g_strdup_printf("%" G_GINT64_FORMAT " %s", restarts,
                                        state));
    before = g_hash_table_lookup(seen, w->instance);
    if (!before) {
        return;                 /* first seen: nothing to compare */
    }
    was = g_ascii_strtoll(before, NULL, 10);
    if (restarts > was) {
        orch_event(w->vm, "device %s: model %s on %s restarted (%"
                   G_GINT64_FORMAT " restart%s)", w->device, w->model,
                   w->server, restarts, restarts == 1 ? "" : "s");
    } else if (strcmp(strchr(before, ' ') + 1, state) != 0) {
        orch_event(w->vm, "device %s: model %s on %s is %s", w->device,
                   w->model, w->server, state);
    }
}

static gpointer watch_thread(gpointer opaque)
{
    DmWatch *dw = opaque;
    g_autoptr(GError) err = NULL;
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash,
                                                       g_str_equal, g_free,
                                                       g_free);
    /* No file on etcd: db is NULL, the records read the store. */
    sqlite3 *db = dw->db_path ? orch_db_open(dw->db_path, &err) : NULL;

    if (dw->db_path && !db) {
        orch_warn("watching the models: %s", err->message);
        return NULL;
    }
    for (;;) {
        g_autoptr(GPtrArray) all = NULL;
        GHashTable *now = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                g_free, g_free);
        guint i;

        OrchStoreView *reads = NULL;

        g_usleep((gulong)dw->interval_s * G_USEC_PER_SEC);
        /* The leader's work (lead.h): a follower would repeat its events. */
        if (!orch_lead_leading()) {
            g_hash_table_remove_all(seen);
            g_hash_table_unref(now);
            continue;
        }
        /* Through a view of its own, never committed (records-bind.h). */
        orch_rec_twin_bind(&reads);
        all = watch_placements(db);
        orch_rec_twin_bind(NULL);
        g_clear_pointer(&reads, orch_view_free);
        for (i = 0; i < all->len; i++) {
            watch_one(seen, now, all->pdata[i]);
        }
        /* Instances gone from the table are forgotten with it. */
        g_hash_table_unref(seen);
        seen = now;
    }
    return NULL;
}

bool orch_dm_watch_start(const char *db_path, guint interval_s,
                         GError **errp)
{
    DmWatch *dw = g_new0(DmWatch, 1);
    GThread *t;

    dw->db_path = g_strdup(db_path);
    dw->interval_s = interval_s;
    t = g_thread_try_new("dm-watch", watch_thread, dw, errp);
    if (!t) {
        g_free(dw->db_path);
        g_free(dw);
        return false;
    }
    g_thread_unref(t);
    return true;
}
