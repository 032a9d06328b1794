/*
 * dm-orchestrator: reconciling the database with what the launchers run,
 * at start-up, before the API is served.
 *
 * The orchestrator may have died at any moment: while a VM ran (and its
 * QEMU exited meanwhile), in the middle of a launch (the launch's
 * transaction was never committed, so the launched processes are unknown
 * to the database), or in the middle of a migration (the database names
 * the source; the same VM also runs on the target client).  Each
 * platform's launcher is asked what it runs, and the database and the
 * launchers are brought back into agreement.  A launcher that does not
 * answer is left alone, as are the rows that depend on it.
 *
 * Main thread, before the worker exists; one transaction.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdarg.h>

#include "catalogue.h"
#include "db.h"
#include "error.h"
#include "launcher.h"
#include "log.h"
#include "placement.h"
#include "reconcile-routes.h"
#include "reconcile.h"
#include "records.h"
#include "records-bind.h"
#include "records-set.h"
#include "store-events.h"
#include "undo.h"
#include "vm.h"

/* The states in which a VM holds a QEMU on its client. */
static const char *const reconcile_holding[] = {
    "running", "suspended", "migrating", NULL,
};

typedef struct Reconcile {
    sqlite3 *db;
    /* platform name -> (id -> its JsonObject); absent if unreachable */
    GHashTable *seen;
    int changes;
    guint left;                 /* repairs a conflict left to a next pass */
} Reconcile;

typedef struct ReconcileVm {
    char *name;
    char *state;
    char *client;               /* NULL if none is recorded */
    char *address;
} ReconcileVm;

static void reconcile_vm_free(gpointer p)
{
    ReconcileVm *vm = p;

    g_free(vm->name);
    g_free(vm->state);
    g_free(vm->client);
    g_free(vm->address);
    g_free(vm);
}

/* One log line and one event per change. */
static void G_GNUC_PRINTF(3, 4)
reconcile_note(Reconcile *rc, const char *vm, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    orch_events_add(vm ? vm : "-", msg);
    if (vm) {
        orch_info("reconcile: VM %s: %s", vm, msg);
    } else {
        orch_info("reconcile: %s", msg);
    }
    rc->changes++;
}

typedef bool (*ReconcileFn)(Reconcile *rc, gpointer data, GError **errp);

/*
 * One repair (a platform's, a VM's) in a view of its own, committed at
 * once with its notes: a transaction of a few keys, well within etcd's
 * limit on a transaction's operations (128 by default: one view for the
 * whole pass met it at 50 VMs), and a conflict with another writer costs
 * this repair alone, counted in rc->left.  False only if the store
 * refused a write (not a conflict: logged by the caller).
 */
static bool reconcile_repair(Reconcile *rc, ReconcileFn fn, gpointer data,
                             GError **errp)
{
    OrchStoreView *view = NULL;
    OrchStoreView **outer = orch_rec_twin_unbind();
    g_autoptr(GError) err = NULL;
    int before = rc->changes;
    bool ok;

    orch_events_defer();
    orch_rec_twin_bind(&view);
    ok = fn(rc, data, errp);
    orch_rec_twin_bind(outer);
    if (ok && !orch_rec_read_error_pending() && view &&
        orch_view_dirty(view) && !orch_view_commit(view, NULL, &err)) {
        orch_warn("reconcile: a repair not written: %s (left to the next "
                  "pass)", err->message);
        rc->left++;
        rc->changes = before;
        ok = true;
        orch_events_flush(false);
    } else {
        /* Unread: the pass says so at its end, nothing of it written. */
        orch_events_flush(ok && !orch_rec_read_error_pending());
        if (!ok || orch_rec_read_error_pending()) {
            rc->changes = before;
        }
    }
    g_clear_pointer(&view, orch_view_free);
    return ok;
}

/* What @name's launcher runs, keyed by id; NULL (warned) if no answer. */
static GHashTable *reconcile_list(const char *name, const char *role,
                                  const char *address)
{
    bool server = strcmp(role, "server") == 0;
    const char *key = server ? "instances" : "vms";
    g_autofree char *path = g_strconcat("/v1/", key, NULL);
    g_autoptr(JsonNode) reply = NULL;
    g_autoptr(GError) err = NULL;
    GHashTable *ids;
    JsonNode *list;
    guint status = 0, i;

    if (!orch_launcher_call(address, "GET", path, NULL, &status, &reply,
                            &err) || status != 200) {
        orch_warn("reconcile: platform %s: %s; its rows are left as they "
                  "are", name, err ? err->message : "GET failed");
        return NULL;
    }
    list = reply && JSON_NODE_HOLDS_OBJECT(reply) ?
        json_object_get_member(json_node_get_object(reply), key) : NULL;
    if (!list || !JSON_NODE_HOLDS_ARRAY(list)) {
        orch_warn("reconcile: platform %s: GET %s has no '%s'; its rows "
                  "are left as they are", name, path, key);
        return NULL;
    }
    ids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                (GDestroyNotify)json_object_unref);
    for (i = 0; i < json_array_get_length(json_node_get_array(list)); i++) {
        JsonNode *e = json_array_get_element(json_node_get_array(list), i);
        const char *id = JSON_NODE_HOLDS_OBJECT(e) ?
            orch_launcher_str(json_node_get_object(e), "id") : NULL;

        if (id) {
            g_hash_table_replace(ids, g_strdup(id), json_object_ref(
                                     json_node_get_object(e)));
        }
    }
    return ids;
}

/*
 * A launcher restarted with (or without) --model-tls-creds, or with
 * models declared otherwise: the platform's model_tls and its models'
 * declarations follow what its health says now.
 */
typedef struct ReconcileHealth {
    const char *name;
    JsonObject *health;
} ReconcileHealth;

static bool reconcile_health_write(Reconcile *rc, gpointer data,
                                   GError **errp)
{
    ReconcileHealth *h = data;
    const char *name = h->name;
    g_autoptr(JsonObject) p = orch_rec_platform(rc->db, name);
    g_autoptr(GError) err = NULL;
    bool now, tls_changed;
    int changed;

    if (!p) {
        return true;
    }
    changed = orch_catalogue_refresh_doc(p, h->health);
    now = orch_health_model_tls(h->health);
    tls_changed = json_object_get_boolean_member_with_default(
        p, "model_tls", FALSE) != now;
    json_object_set_boolean_member(p, "model_tls", now);
    if ((changed == 0 && !tls_changed) ||
        !orch_rec_platform_update(p, &err)) {
        if (err) {
            orch_warn("platform %s: %s", name, err->message);
        }
        return true;
    }
    if (changed > 0) {
        reconcile_note(rc, NULL, "platform %s: %d model declaration(s) "
                       "changed (its launcher says so)", name, changed);
    }
    if (tls_changed) {
        reconcile_note(rc, NULL, "platform %s: model_tls is now %s (its "
                       "launcher says so)", name, now ? "true" : "false");
    }
    return true;
}

static void reconcile_health(Reconcile *rc, const char *name,
                             const char *address)
{
    g_autoptr(JsonNode) reply = NULL;
    ReconcileHealth h = { name, NULL };
    guint status = 0;

    if (!orch_launcher_call(address, "GET", "/v1/health", NULL, &status,
                            &reply, NULL) || status != 200 ||
        !reply || !JSON_NODE_HOLDS_OBJECT(reply)) {
        return;                 /* its listing answered: leave it be */
    }
    h.health = json_node_get_object(reply);
    reconcile_repair(rc, reconcile_health_write, &h, NULL);
}

static void reconcile_fetch(Reconcile *rc)
{
    g_autoptr(GPtrArray) platforms = orch_rec_platforms(rc->db);
    guint i;

    for (i = 0; i < platforms->len; i++) {
        JsonObject *p = platforms->pdata[i];
        const char *name = orch_rec_str(p, "name");
        GHashTable *ids = reconcile_list(name, orch_rec_str(p, "role"),
                                         orch_rec_str(p, "address"));

        if (ids) {
            g_hash_table_insert(rc->seen, g_strdup(name), ids);
            reconcile_health(rc, name, orch_rec_str(p, "address"));
        }
    }
}

static JsonObject *reconcile_find(Reconcile *rc, const char *platform,
                                  const char *id)
{
    GHashTable *ids = platform ? g_hash_table_lookup(rc->seen, platform) :
        NULL;

    return ids ? g_hash_table_lookup(ids, id) : NULL;
}

static bool reconcile_runs(JsonObject *rec)
{
    const char *state;

    if (!rec || !json_object_has_member(rec, "state") ||
        !JSON_NODE_HOLDS_VALUE(json_object_get_member(rec, "state"))) {
        return false;
    }
    state = json_object_get_string_member(rec, "state");
    return state && (strcmp(state, "running") == 0 ||
                     strcmp(state, "starting") == 0);
}

/* DELETE @path on @platform's launcher and forget it was seen there. */
static void reconcile_delete(Reconcile *rc, const char *platform,
                             const char *address, const char *kind,
                             const char *id)
{
    g_autofree char *path = g_strdup_printf("/v1/%s/%s", kind, id);
    OrchUndo d = { 0 };
    GHashTable *ids = g_hash_table_lookup(rc->seen, platform);

    orch_undo_add(&d, address, path);
    orch_undo_run(&d);
    if (ids) {
        g_hash_table_remove(ids, id);
    }
}

/* QEMU's run state ("running", "paused", ...), or NULL (warned). */
static char *reconcile_status(Reconcile *rc, const char *address,
                              const char *vm)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret = NULL;
    const char *status = NULL;

    if (orch_qmp(address, vm, "query-status", NULL, &ret, &err) &&
        JSON_NODE_HOLDS_OBJECT(ret)) {
        status = orch_launcher_str(json_node_get_object(ret), "status");
    }
    if (!status) {
        orch_warn("reconcile: VM %s: query-status on %s: %s; left as it "
                  "is", vm, address, err ? err->message : "no status");
    }
    return g_strdup(status);
}

static bool reconcile_cont(Reconcile *rc, const char *address,
                           const char *vm)
{
    g_autoptr(GError) err = NULL;

    if (!orch_qmp(address, vm, "cont", NULL, NULL, &err)) {
        orch_warn("reconcile: VM %s: cont on %s: %s, ignoring", vm, address,
                  err->message);
        return false;
    }
    return true;
}

/* The teardown deletes these: they are no orphans. */
static void reconcile_forget_instances(Reconcile *rc, const char *vm)
{
    g_autoptr(JsonObject) doc = orch_rec_vm(rc->db, vm);
    JsonArray *devs = doc ? json_object_get_array_member(doc, "devices") :
        NULL;
    guint i;

    for (i = 0; devs && i < json_array_get_length(devs); i++) {
        g_autoptr(JsonObject) p = orch_rec_placement(
            rc->db, vm, orch_rec_str(json_array_get_object_element(devs, i),
                                     "name"));
        GHashTable *ids = p ? g_hash_table_lookup(
            rc->seen, orch_rec_str(p, "server")) : NULL;

        if (ids) {
            g_hash_table_remove(ids, orch_rec_str(p, "instance"));
        }
    }
}

/* The VM's QEMU is gone: delete what is left of it and stop it. */
static bool reconcile_stop(Reconcile *rc, ReconcileVm *vm, const char *why,
                           GError **errp)
{
    if (reconcile_find(rc, vm->client, vm->name)) {
        reconcile_delete(rc, vm->client, vm->address, "vms", vm->name);
    }
    reconcile_forget_instances(rc, vm->name);
    if (!orch_vm_teardown(rc->db, vm->name, errp)) {
        return false;
    }
    reconcile_note(rc, vm->name, "%s: stopped, its device models deleted",
                   why);
    return true;
}

static bool reconcile_set(Reconcile *rc, ReconcileVm *vm, const char *state,
                          const char *why, GError **errp)
{
    if (strcmp(state, vm->state) == 0) {
        return true;
    }
    if (!orch_vm_write(rc->db, vm->name, errp, "state", state, NULL)) {
        return false;
    }
    reconcile_note(rc, vm->name, "%s: %s (was %s)", why, state, vm->state);
    return true;
}

/* Another reachable client whose launcher runs the VM: a target. */
static bool reconcile_target(Reconcile *rc, ReconcileVm *vm,
                             OrchClientChoice *ret)
{
    g_autoptr(GPtrArray) platforms = orch_rec_platforms(rc->db);
    guint i;

    for (i = 0; i < platforms->len; i++) {
        JsonObject *p = platforms->pdata[i];
        const char *name = orch_rec_str(p, "name");

        if (g_strcmp0(orch_rec_str(p, "role"), "client") != 0 ||
            !g_strcmp0(name, vm->client)) {
            continue;
        }
        if (reconcile_runs(reconcile_find(rc, name, vm->name))) {
            ret->name = g_strdup(name);
            ret->address = g_strdup(orch_rec_str(p, "address"));
            ret->hypervisor = g_strdup(orch_rec_str(p, "hypervisor"));
            return true;
        }
    }
    return false;
}

/*
 * The VM runs on two clients: a migration the orchestrator did not see
 * to its end.  The target wins if it runs and the source handed over
 * (postmigrate) or is gone; otherwise the target goes.
 */
static bool reconcile_migration(Reconcile *rc, ReconcileVm *vm,
                                bool src_runs, OrchClientChoice *tgt,
                                GError **errp)
{
    g_autofree char *src = src_runs ? reconcile_status(rc, vm->address,
                                                       vm->name) : NULL;
    g_autofree char *dst = NULL;

    if (src_runs && !src) {
        return true;
    }
    dst = reconcile_status(rc, tgt->address, vm->name);
    if (dst && strcmp(dst, "inmigrate") != 0 &&
        (!src_runs || strcmp(src, "postmigrate") == 0)) {
        const char *state = strcmp(dst, "running") == 0 ? "running" :
            "suspended";

        if (reconcile_find(rc, vm->client, vm->name)) {
            reconcile_delete(rc, vm->client, vm->address, "vms", vm->name);
        }
        if (!orch_vm_write(rc->db, vm->name, errp, "state", state,
                           "client", tgt->name, "hypervisor",
                           tgt->hypervisor, NULL)) {
            return false;
        }
        reconcile_note(rc, vm->name, "an interrupted migration from %s "
                       "had reached %s: adopted there, %s",
                       vm->client ? vm->client : "-", tgt->name, state);
        return true;
    }
    reconcile_delete(rc, tgt->name, tgt->address, "vms", vm->name);
    if (!src_runs) {
        return reconcile_stop(rc, vm, "an interrupted migration left no "
                              "usable QEMU", errp);
    }
    reconcile_note(rc, vm->name, "an interrupted migration to %s is "
                   "undone: its QEMU there is deleted", tgt->name);
    /* A source that handed over, or is about to, must run again. */
    if (strcmp(vm->state, "suspended") != 0 &&
        reconcile_cont(rc, vm->address, vm->name)) {
        g_free(src);
        src = g_strdup("running");
    }
    return reconcile_set(rc, vm, strcmp(src, "running") == 0 ? "running" :
                         "suspended", "after the undone migration it is",
                         errp);
}

static bool reconcile_vm(Reconcile *rc, ReconcileVm *vm, GError **errp)
{
    g_auto(OrchClientChoice) tgt = { 0 };
    g_autofree char *status = NULL;
    bool src_runs;

    if (vm->client && !g_hash_table_contains(rc->seen, vm->client)) {
        orch_warn("reconcile: VM %s: its client %s did not answer; left "
                  "%s", vm->name, vm->client, vm->state);
        return true;
    }
    src_runs = reconcile_runs(reconcile_find(rc, vm->client, vm->name));
    if (reconcile_target(rc, vm, &tgt)) {
        return reconcile_migration(rc, vm, src_runs, &tgt, errp);
    }
    if (!src_runs) {
        return reconcile_stop(rc, vm, vm->client ?
                              "its QEMU is gone from its client" :
                              "it has no client", errp);
    }
    status = reconcile_status(rc, vm->address, vm->name);
    if (!status) {
        return true;
    }
    if (strcmp(status, "postmigrate") == 0 &&
        reconcile_cont(rc, vm->address, vm->name)) {
        /* Handed over to a target that is gone: it runs here again. */
        return reconcile_set(rc, vm, "running", "its migration target is "
                             "gone, it runs on", errp);
    }
    return reconcile_set(rc, vm, strcmp(status, "running") == 0 ?
                         "running" : "suspended", "its QEMU says", errp);
}

static bool reconcile_vm_fn(Reconcile *rc, gpointer vm, GError **errp)
{
    return reconcile_vm(rc, vm, errp);
}

static bool reconcile_vms(Reconcile *rc, GError **errp)
{
    g_autoptr(GPtrArray) vms = g_ptr_array_new_with_free_func(
        reconcile_vm_free);
    g_autoptr(GPtrArray) names = orch_rec_vm_names(rc->db);
    guint i;

    for (i = 0; i < names->len; i++) {
        g_autoptr(JsonObject) doc = orch_rec_vm(rc->db, names->pdata[i]);
        g_autoptr(JsonObject) c = NULL;
        const char *state = orch_rec_str(doc, "state");
        ReconcileVm *vm;

        if (!state || !g_strv_contains(reconcile_holding, state)) {
            continue;
        }
        vm = g_new0(ReconcileVm, 1);
        vm->name = g_strdup(names->pdata[i]);
        vm->state = g_strdup(state);
        vm->client = g_strdup(orch_rec_str(doc, "client"));
        c = vm->client ? orch_rec_platform(rc->db, vm->client) : NULL;
        vm->address = g_strdup(orch_rec_str(c, "address"));
        g_ptr_array_add(vms, vm);
    }
    for (i = 0; i < vms->len; i++) {
        if (!reconcile_repair(rc, reconcile_vm_fn, g_ptr_array_index(vms, i),
                              errp)) {
            return false;
        }
    }
    return true;
}

/*
 * A start claims each device's placement before its launch and commits
 * the claim (placement.c), and a failed start deletes them; so an
 * orchestrator that died during a start left placements on a VM that is
 * defined or stopped, which has none otherwise.  Those on servers that
 * answered go (their slots are free again, and the instances they name
 * are deleted as orphans next); the others wait for their launcher.
 */
static bool reconcile_cut_start(Reconcile *rc, gpointer data,
                                GError **errp)
{
    const char *vm = data;
    g_autoptr(JsonObject) doc = orch_rec_vm(rc->db, vm);
    const char *state = orch_rec_str(doc, "state");
    JsonArray *devs = doc ? json_object_get_array_member(doc, "devices") :
        NULL;
    bool freed = false;
    guint j;

    if (g_strcmp0(state, "defined") != 0 &&
        g_strcmp0(state, "stopped") != 0) {
        return true;
    }
    for (j = 0; devs && j < json_array_get_length(devs); j++) {
        const char *dev = orch_rec_str(
            json_array_get_object_element(devs, j), "name");
        g_autoptr(JsonObject) p = orch_rec_placement(rc->db, vm, dev);
        const char *server = orch_rec_str(p, "server");

        /* A server that did not answer keeps what it may run. */
        if (!server || !g_hash_table_contains(rc->seen, server)) {
            continue;
        }
        if (!orch_rec_placement_delete(vm, dev, errp)) {
            return false;
        }
        freed = true;
    }
    if (freed) {
        reconcile_note(rc, vm, "a start cut short left placements: "
                       "freed");
    }
    return true;
}

static bool reconcile_cut_starts(Reconcile *rc, GError **errp)
{
    g_autoptr(GPtrArray) names = orch_rec_vm_names(rc->db);
    guint i;

    for (i = 0; i < names->len; i++) {
        if (!reconcile_repair(rc, reconcile_cut_start, names->pdata[i],
                              errp)) {
            return false;
        }
    }
    return true;
}

/* Whether the database knows @id on platform @name. */
static bool reconcile_known(Reconcile *rc, const char *name, bool server,
                            const char *id)
{
    g_autoptr(JsonObject) inst = NULL;
    g_autoptr(JsonObject) p = NULL;
    g_autoptr(JsonObject) vm = NULL;
    const char *state;

    if (server) {
        inst = orch_rec_instance(rc->db, id);
        p = inst ? orch_rec_placement(rc->db, orch_rec_str(inst, "vm"),
                                      orch_rec_str(inst, "device")) : NULL;
        return orch_rec_read_error_pending() ||
               (p && !g_strcmp0(orch_rec_str(p, "server"), name));
    }
    vm = orch_rec_vm(rc->db, id);
    state = orch_rec_str(vm, "state");
    /* Unread is not unknown: nothing is deleted on a failed read. */
    return orch_rec_read_error_pending() ||
           (state && g_strv_contains(reconcile_holding, state) &&
            !g_strcmp0(orch_rec_str(vm, "client"), name));
}

/* The VM an instance serves, from its binding, or NULL. */
static char *reconcile_instance_vm(Reconcile *rc, JsonObject *inst)
{
    JsonNode *bind = json_object_get_member(inst, "bind");
    JsonNode *uuid;

    if (!bind || !JSON_NODE_HOLDS_OBJECT(bind)) {
        return NULL;
    }
    uuid = json_object_get_member(json_node_get_object(bind), "vm");
    if (!uuid || !JSON_NODE_HOLDS_VALUE(uuid) ||
        json_node_get_value_type(uuid) != G_TYPE_STRING) {
        return NULL;
    }
    return orch_rec_vm_by_uuid(rc->db, json_node_get_string(uuid));
}

/* Launches that were never committed: what no row knows goes. */
static void reconcile_orphans(Reconcile *rc)
{
    g_autoptr(GPtrArray) platforms = orch_rec_platforms(rc->db);
    guint j;

    for (j = 0; j < platforms->len; j++) {
        JsonObject *p = platforms->pdata[j];
        const char *name = orch_rec_str(p, "name");
        bool server = g_strcmp0(orch_rec_str(p, "role"), "server") == 0;
        const char *address = orch_rec_str(p, "address");
        GHashTable *ids = g_hash_table_lookup(rc->seen, name);
        g_autofree gpointer *keys = NULL;
        guint i, n = 0;

        if (ids) {
            keys = g_hash_table_get_keys_as_array(ids, &n);
        }
        for (i = 0; i < n; i++) {
            g_autofree char *id = g_strdup(keys[i]);
            g_autofree char *vm = NULL;

            if (reconcile_known(rc, name, server, id)) {
                continue;
            }
            vm = server ? reconcile_instance_vm(rc, g_hash_table_lookup(
                                                    ids, id)) :
                g_strdup(id);
            reconcile_delete(rc, name, address,
                             server ? "instances" : "vms", id);
            reconcile_note(rc, vm, "%s %s on %s is unknown to the database:"
                           " deleted", server ? "instance" : "QEMU", id,
                           name);
        }
    }
}

bool orch_reconcile(sqlite3 *db, guint *left, GError **errp)
{
    Reconcile rc = { .db = db };
    OrchStoreView *reads = NULL;
    g_autofree char *unread = NULL;
    guint answered;
    bool ok;

    /* What the pass surveys through a view never committed; each repair
     * in one of its own (reconcile_repair). */
    g_free(orch_rec_read_error_take());
    orch_rec_twin_bind(&reads);
    rc.seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                    (GDestroyNotify)g_hash_table_unref);
    reconcile_fetch(&rc);
    /* Which write failed is in the log. */
    ok = reconcile_vms(&rc, NULL) && reconcile_cut_starts(&rc, NULL);
    /* The orphans against what the repairs left: read afresh. */
    g_clear_pointer(&reads, orch_view_free);
    if (ok && !orch_rec_read_error_pending()) {
        reconcile_orphans(&rc);
        rc.changes += orch_reconcile_routes(db, rc.seen);
    }
    orch_rec_twin_bind(NULL);
    g_clear_pointer(&reads, orch_view_free);
    unread = orch_rec_read_error_take();
    if (left) {
        *left = rc.left;
    }
    answered = g_hash_table_size(rc.seen);
    g_hash_table_unref(rc.seen);
    if (ok && unread) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_UNAVAILABLE,
                    "the store could not be read: %s (the repairs after it "
                    "not made)", unread);
        return false;
    }
    if (!ok) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL,
                    "the store refused a repair (logged above)");
        return false;
    }
    if (rc.left) {
        orch_info("reconcile: %u launcher(s) answered, %d change(s), %u "
                  "left to the next pass", answered, rc.changes, rc.left);
    } else {
        orch_info("reconcile: %u launcher(s) answered, %d change(s)",
                  answered, rc.changes);
    }
    return true;
}
