/*
 * dm-orchestrator: the store's twins compared with the tables
 * (store-check.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdarg.h>

#include "error.h"
#include "records.h"
#include "records-bind.h"
#include "records-view.h"
#include "store-check.h"
#include "store-view.h"

typedef struct Check {
    OrchStoreView *v;
    const char *root;
    GString *out;
    int n;                      /* differences */
    GError *err;                /* the store's first failure */
    /* What the tables hold, counted, for the store's extra keys. */
    guint placements, routes;
} Check;

static void check_diff(Check *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void check_diff(Check *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_string_append_vprintf(c->out, fmt, ap);
    va_end(ap);
    g_string_append_c(c->out, '\n');
    c->n++;
}

static char *check_text(JsonObject *o)
{
    g_autoptr(JsonNode) n = NULL;

    if (!o) {
        return g_strdup("(none)");
    }
    n = json_node_init_object(json_node_alloc(), o);
    return json_to_string(n, FALSE);
}

/* @a (the tables') and @b (the store's) the same document, or both NULL. */
static void check_doc(Check *c, const char *what, JsonObject *a,
                      JsonObject *b)
{
    g_autoptr(JsonNode) na = NULL, nb = NULL;
    g_autofree char *ta = NULL, *tb = NULL;

    if (a && b) {
        na = json_node_init_object(json_node_alloc(), a);
        nb = json_node_init_object(json_node_alloc(), b);
        if (json_node_equal(na, nb)) {
            return;
        }
    } else if (!a && !b) {
        return;
    }
    ta = check_text(a);
    tb = check_text(b);
    check_diff(c, "%s: the tables have %s, the store %s", what, ta, tb);
}

static void check_names(Check *c, const char *what, GPtrArray *a,
                        GPtrArray *b)
{
    g_autofree char *ta = NULL, *tb = NULL;

    if (b) {
        guint i;

        for (i = 0; i < a->len && i < b->len; i++) {
            if (g_strcmp0(a->pdata[i], b->pdata[i]) != 0) {
                break;
            }
        }
        if (i == a->len && i == b->len) {
            return;
        }
    }
    g_ptr_array_add(a, NULL);
    ta = g_strjoinv(",", (char **)a->pdata);
    g_ptr_array_remove_index(a, a->len - 1);
    if (b) {
        g_ptr_array_add(b, NULL);
        tb = g_strjoinv(",", (char **)b->pdata);
        g_ptr_array_remove_index(b, b->len - 1);
    }
    check_diff(c, "%s: the tables have [%s], the store [%s]", what, ta,
               tb ? tb : "?");
}

/* The store's failure, if any, is kept (the first) and ends the check. */
static bool check_ok(Check *c, GError *err)
{
    if (err && !c->err) {
        c->err = err;
    } else if (err) {
        g_error_free(err);
    }
    return !c->err;
}

static void check_platforms(Check *c, sqlite3 *db)
{
    g_autoptr(GPtrArray) names = orch_rec_platform_names(db);
    GError *err = NULL;
    g_autoptr(GPtrArray) names2 = orch_recv_platform_names(c->v, c->root,
                                                           &err);

    if (!check_ok(c, err)) {
        return;
    }
    check_names(c, "platforms", names, names2);
    for (guint i = 0; i < names->len && !c->err; i++) {
        const char *name = names->pdata[i];
        g_autofree char *what = g_strconcat("platform ", name, NULL);
        g_autoptr(JsonObject) a = orch_rec_platform(db, name);
        g_autoptr(JsonObject) b = orch_recv_platform(c->v, c->root, name,
                                                     &err);
        gint64 used, used2, running, running2;

        if (!check_ok(c, err)) {
            return;
        }
        check_doc(c, what, a, b);
        used = orch_rec_server_used(db, name);
        used2 = orch_recv_server_used(c->v, c->root, name, &err);
        running = orch_rec_client_running(db, name);
        running2 = orch_recv_client_running(c->v, c->root, name, &err);
        if (!check_ok(c, err)) {
            return;
        }
        if (used != used2 || running != running2) {
            check_diff(c, "%s: the tables count %" G_GINT64_FORMAT
                       " model(s) placed and %" G_GINT64_FORMAT " VM(s)"
                       " running, the store %" G_GINT64_FORMAT " and %"
                       G_GINT64_FORMAT, what, used, running, used2,
                       running2);
        }
    }
}

/* Device @dev of VM @vm: its placement, its instance's and route's claims. */
static void check_device(Check *c, sqlite3 *db, const char *vm,
                         const char *dev)
{
    g_autofree char *what = g_strdup_printf("placement %s/%s", vm, dev);
    g_autoptr(JsonObject) p = orch_rec_placement(db, vm, dev);
    GError *err = NULL;
    g_autoptr(JsonObject) q = orch_recv_placement(c->v, c->root, vm, dev,
                                                  &err);
    const char *inst = orch_rec_str(p, "instance");
    const char *route = orch_rec_str(p, "route_id");

    if (!check_ok(c, err)) {
        return;
    }
    check_doc(c, what, p, q);
    c->placements += p != NULL;
    c->routes += route != NULL;
    if (inst) {
        g_autofree char *w = g_strconcat("instance ", inst, NULL);
        g_autoptr(JsonObject) a = orch_rec_instance(db, inst);
        g_autoptr(JsonObject) b = orch_recv_instance(c->v, c->root, inst,
                                                     &err);

        if (check_ok(c, err)) {
            check_doc(c, w, a, b);
        }
    }
    if (route) {
        g_autofree char *w = g_strconcat("route ", route, NULL);
        g_autoptr(JsonObject) a = orch_rec_route(db, route);
        g_autoptr(JsonObject) b = orch_recv_route(c->v, c->root, route,
                                                  &err);

        if (check_ok(c, err)) {
            check_doc(c, w, a, b);
        }
    }
}

static void check_vms(Check *c, sqlite3 *db, guint *nvms)
{
    g_autoptr(GPtrArray) names = orch_rec_vm_names(db);
    GError *err = NULL;
    g_autoptr(GPtrArray) names2 = orch_recv_vm_names(c->v, c->root, &err);

    *nvms = names->len;
    if (!check_ok(c, err)) {
        return;
    }
    check_names(c, "VMs", names, names2);
    for (guint i = 0; i < names->len && !c->err; i++) {
        const char *name = names->pdata[i];
        g_autofree char *what = g_strconcat("VM ", name, NULL);
        g_autoptr(JsonObject) a = orch_rec_vm(db, name);
        g_autoptr(JsonObject) b = orch_recv_vm(c->v, c->root, name, &err);
        g_autofree char *holder = NULL;
        JsonArray *devs;

        if (!check_ok(c, err)) {
            return;
        }
        check_doc(c, what, a, b);
        if (!a) {
            continue;
        }
        holder = orch_recv_vm_by_uuid(c->v, c->root, orch_rec_str(a, "uuid"),
                                      &err);
        if (!check_ok(c, err)) {
            return;
        }
        if (g_strcmp0(holder, name) != 0) {
            check_diff(c, "%s: its UUID's claim names %s in the store", what,
                       holder ? holder : "none");
        }
        devs = json_object_get_array_member(a, "devices");
        for (guint j = 0; devs && j < json_array_get_length(devs); j++) {
            check_device(c, db, name, orch_rec_str(
                             json_array_get_object_element(devs, j),
                             "name"));
        }
    }
}

/* As many keys under ROOT @rel in the store as the tables have: @want. */
static void check_count(Check *c, const char *rel, guint want)
{
    g_autofree char *prefix = g_strconcat(c->root, rel, NULL);
    GError *err = NULL;
    g_autoptr(GPtrArray) kvs = orch_view_list(c->v, prefix, &err);

    if (check_ok(c, err) && kvs->len != want) {
        check_diff(c, "%s: the tables give %u key(s), the store holds %u",
                   prefix, want, kvs->len);
    }
}

int orch_store_check_twins(sqlite3 *db, OrchStore *s, const char *root,
                           GString *out, GError **errp)
{
    g_autoptr(OrchStoreView) v = orch_view_new(s);
    Check c = { v, root, out, 0, NULL, 0, 0 };
    /* The tables themselves, whatever this thread's records read. */
    OrchStoreView **slot = orch_rec_twin_unbind();
    guint nvms = 0;

    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        orch_rec_twin_bind(slot);
        orch_error_internal(errp, EIO);
        return -1;
    }
    check_platforms(&c, db);
    if (!c.err) {
        check_vms(&c, db, &nvms);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    orch_rec_twin_bind(slot);
    if (!c.err) {
        /* What the store holds beyond the tables' documents. */
        check_count(&c, "uuids/", nvms);
        check_count(&c, "placements/", c.placements);
        check_count(&c, "instances/", c.placements);
        check_count(&c, "routes/", c.routes);
    }
    if (c.err) {
        g_propagate_error(errp, c.err);
        return -1;
    }
    return c.n;
}
