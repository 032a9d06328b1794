/*
 * dm-orchestrator: the launchers' registrations, as the leader reads
 * them (registrations.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "log.h"
#include "records.h"
#include "records-bind.h"
#include "records-set.h"
#include "registrations.h"
#include "store-events.h"
#include "store-platforms.h"
#include "vm.h"

#define REG_PREFIX ORCH_STORE_ROOT "launchers/"

/* The platforms whose launchers hold a key now (a set of names). */
static GHashTable *reg_present(OrchStore *s, GError **errp)
{
    g_autoptr(GPtrArray) kvs = orch_store_list(s, REG_PREFIX, NULL, errp);
    GHashTable *set;

    if (!kvs) {
        return NULL;
    }
    set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < kvs->len; i++) {
        OrchKv *kv = g_ptr_array_index(kvs, i);

        g_hash_table_add(set, g_strdup(kv->key + strlen(REG_PREFIX)));
    }
    return set;
}

/* An event on each VM running on @platform or holding a model there. */
static void reg_tell_vms(const char *platform)
{
    g_autoptr(GPtrArray) names = orch_rec_vm_names(NULL);

    for (guint i = 0; i < names->len; i++) {
        g_autoptr(JsonObject) vm = orch_vm_object(NULL, names->pdata[i]);
        JsonArray *devs;
        bool client;

        if (!vm) {
            continue;
        }
        client = g_strcmp0(orch_rec_str(vm, "client"), platform) == 0 &&
            g_strcmp0(orch_rec_str(vm, "state"), "running") == 0;
        if (client) {
            orch_event(names->pdata[i], "its client platform %s lost "
                       "its launcher (the registration expired)", platform);
        }
        devs = json_object_get_array_member(vm, "devices");
        for (guint j = 0; devs && j < json_array_get_length(devs); j++) {
            JsonObject *d = json_array_get_object_element(devs, j);

            if (g_strcmp0(orch_rec_str(d, "placed_on"), platform) == 0) {
                orch_event(names->pdata[i], "device %s: its model's "
                           "server platform %s lost its launcher (the "
                           "registration expired)", orch_rec_str(d, "name"),
                           platform);
            }
        }
    }
}

/* Platform @p's "registration" set to @now; false if the write failed. */
static bool reg_set(JsonObject *p, const char *now)
{
    g_autoptr(GError) err = NULL;
    const char *name = orch_rec_str(p, "name");
    const char *was = orch_rec_str(p, "registration");

    json_object_set_string_member(p, "registration", now);
    if (!orch_rec_platform_update(p, &err)) {
        orch_warn("registrations: platform %s: %s", name, err->message);
        return false;
    }
    if (!strcmp(now, "lost")) {
        orch_event("-", "platform %s lost its launcher (the "
                   "registration expired): nothing new is placed there",
                   name);
        reg_tell_vms(name);
    } else if (was) {
        orch_event("-", "platform %s: its launcher registered again",
                   name);
    }
    return true;
}

int orch_registrations_pass(OrchStore *s)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GHashTable) present = reg_present(s, &err);
    g_autoptr(OrchStoreView) view = NULL;
    g_autoptr(GPtrArray) platforms = NULL;
    int changes = 0;
    bool ok = true;

    if (!present) {
        orch_warn("registrations: %s", err->message);
        return -1;
    }
    orch_events_defer();
    orch_rec_twin_bind(&view);
    platforms = orch_rec_platforms(NULL);
    for (guint i = 0; ok && i < platforms->len; i++) {
        JsonObject *p = g_ptr_array_index(platforms, i);
        const char *was = orch_rec_str(p, "registration");
        bool here = g_hash_table_contains(present, orch_rec_str(p, "name"));

        if (here && g_strcmp0(was, "present") != 0) {
            ok = reg_set(p, "present");
            changes++;
        } else if (!here && g_strcmp0(was, "present") == 0) {
            ok = reg_set(p, "lost");
            changes++;
        }
    }
    orch_rec_twin_bind(NULL);
    /* What could not be read is left to the next pass, not written. */
    g_autofree char *unread = orch_rec_read_error_take();
    if (unread) {
        orch_warn("registrations: the store could not be read: %s", unread);
        ok = false;
    }
    if (ok && changes && !orch_view_commit(view, NULL, &err)) {
        orch_warn("registrations: not written: %s (left to the next pass)",
                  err->message);
        ok = false;
    }
    orch_events_flush(ok && changes);
    return ok ? changes : -1;
}

static void reg_notice(const DmEtcdWatchNotice *n, gpointer opaque)
{
    void (*wake)(void) = opaque;

    if (n->kind == DM_ETCD_WATCH_EVENTS || n->kind == DM_ETCD_WATCH_UP) {
        wake();
    }
}

DmEtcdWatch *orch_registrations_watch(OrchStore *s, void (*wake)(void),
                                      GError **errp)
{
    return orch_store_watch(s, REG_PREFIX, 0, NULL, reg_notice,
                            (gpointer)wake, errp);
}
