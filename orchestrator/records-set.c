/*
 * dm-orchestrator: the handlers' writes by names and documents, on the
 * store's layers (records-set.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "error.h"
#include "records.h"
#include "records-bind.h"
#include "records-set.h"
#include "store-placements.h"
#include "store-platform-remove.h"
#include "store-platforms.h"
#include "store-routes.h"
#include "store-vms.h"

/* The root of the twins' keys (records-bind.h). */
#define TWIN_ROOT orch_rec_bound_root()

/*
 * The view a write goes into: the thread's section's (records-bind.h),
 * or, outside any section, *@own, a view of its own for twin_end to
 * commit.  NULL with *@errp set if there is no store.
 */
static OrchStoreView *twin_begin(OrchStoreView **own, GError **errp)
{
    OrchStoreView *v = orch_rec_bound_view();

    *own = NULL;
    if (v) {
        return v;
    }
    if (!orch_rec_bound_store()) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL,
                    "no store to write in");
        return NULL;
    }
    return *own = orch_view_new(orch_rec_bound_store());
}

static bool twin_end(OrchStoreView *own, bool ok, GError **errp)
{
    if (own) {
        ok = ok && orch_view_commit(own, NULL, errp);
        orch_view_free(own);
    }
    return ok;
}

bool orch_rec_vm_update(JsonObject *doc, GError **errp)
{
    static const char *const members[] = {
        "state", "client", "hypervisor", "saved_file", NULL,
    };
    OrchStoreView *own, *v = twin_begin(&own, errp);
    g_autoptr(JsonObject) cur = NULL;
    g_autoptr(JsonObject) plat = NULL;
    const char *name = orch_rec_str(doc, "name");
    const char *client = orch_rec_str(doc, "client");
    bool ok;

    if (!v) {
        return false;
    }
    ok = orch_vm_doc_read(v, TWIN_ROOT, name, &cur, errp);
    if (ok && !cur) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND, "no VM '%s'",
                    name);
        ok = false;
    }
    /* The client named must exist (read: its removal meanwhile is 409). */
    if (ok && client) {
        ok = orch_platform_read(v, TWIN_ROOT, client, &plat, errp);
        if (ok && !plat) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND,
                        "no platform '%s'", client);
            ok = false;
        }
    }
    for (guint i = 0; ok && members[i]; i++) {
        JsonNode *n = json_object_get_member(doc, members[i]);

        json_object_set_member(cur, members[i], n ? json_node_copy(n) :
                               json_node_new(JSON_NODE_NULL));
    }
    ok = ok && orch_vm_doc_update(v, TWIN_ROOT, cur, errp);
    return twin_end(own, ok, errp);
}

bool orch_rec_vm_create(JsonObject *doc, GError **errp)
{
    OrchStoreView *own, *v = twin_begin(&own, errp);

    return v && twin_end(own, orch_vm_doc_create(v, TWIN_ROOT, doc, errp),
                         errp);
}

/* Release in @v every placement VM @vm's document lists a device of. */
static bool twin_release_all(OrchStoreView *v, const char *vm,
                             GError **errp)
{
    g_autoptr(JsonObject) doc = NULL;
    JsonArray *devs;

    if (!orch_vm_doc_read(v, TWIN_ROOT, vm, &doc, errp)) {
        return false;
    }
    devs = doc ? json_object_get_array_member(doc, "devices") : NULL;
    for (guint i = 0; devs && i < json_array_get_length(devs); i++) {
        const char *dev = orch_rec_str(json_array_get_object_element(devs,
                                                                     i),
                                       "name");
        g_autoptr(JsonObject) p = NULL;

        if (!orch_placement_read(v, TWIN_ROOT, vm, dev, &p, errp) ||
            (p && !orch_placement_release(v, TWIN_ROOT, vm, dev, errp))) {
            return false;
        }
    }
    return true;
}

bool orch_rec_vm_remove(const char *name, GError **errp)
{
    OrchStoreView *own, *v = twin_begin(&own, errp);

    /* Its placements go with it, as the rows' did (ON DELETE CASCADE). */
    return v && twin_end(own, twin_release_all(v, name, errp) &&
                         orch_vm_doc_remove(v, TWIN_ROOT, name, errp),
                         errp);
}

bool orch_rec_platform_add(JsonObject *doc, GError **errp)
{
    OrchStoreView *own, *v = twin_begin(&own, errp);

    return v && twin_end(own, orch_platform_add_doc(v, TWIN_ROOT, doc, errp),
                         errp);
}

bool orch_rec_platform_update(JsonObject *doc, GError **errp)
{
    OrchStoreView *own, *v = twin_begin(&own, errp);

    return v && twin_end(own, orch_platform_update_doc(v, TWIN_ROOT, doc,
                                                       errp), errp);
}

bool orch_rec_platform_remove(const char *name, GError **errp)
{
    OrchStoreView *own, *v = twin_begin(&own, errp);

    return v && twin_end(own, orch_platform_remove_doc(v, TWIN_ROOT, name,
                                                       errp), errp);
}

bool orch_rec_placements_delete(const char *vm, GError **errp)
{
    OrchStoreView *own, *v = twin_begin(&own, errp);

    return v && twin_end(own, twin_release_all(v, vm, errp), errp);
}

bool orch_rec_placement_claim(const char *vm, const char *dev,
                              const char *server, const char *instance,
                              const char *token, GError **errp)
{
    OrchStoreView *own, *v = twin_begin(&own, errp);
    g_autoptr(JsonObject) doc = NULL;
    g_autofree char *chosen = NULL;
    JsonObject *d;
    bool ok;

    if (!v) {
        return false;
    }
    ok = orch_vm_doc_read(v, TWIN_ROOT, vm, &doc, errp);
    d = doc ? orch_vm_doc_device(doc, dev) : NULL;
    if (ok && !d) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND,
                    "no device '%s' of VM '%s'", dev, vm);
        ok = false;
    }
    ok = ok && orch_placement_claim(v, TWIN_ROOT, vm, dev,
                                    orch_rec_str(d, "model"), server,
                                    instance, token, &chosen, errp);
    return twin_end(own, ok, errp);
}

bool orch_rec_placement_delete(const char *vm, const char *dev,
                               GError **errp)
{
    OrchStoreView *own, *v = twin_begin(&own, errp);

    return v && twin_end(own, orch_placement_release(v, TWIN_ROOT, vm, dev,
                                                     errp), errp);
}

bool orch_rec_placement_launched(const char *vm,
                                 const char *dev, const char *address,
                                 const char *console, const char *state,
                                 GError **errp)
{
    OrchStoreView *own, *v = twin_begin(&own, errp);

    return v && twin_end(own, orch_placement_launched(v, TWIN_ROOT, vm, dev,
                                                      address, console,
                                                      state, errp), errp);
}

bool orch_rec_route_set(const char *vm, const char *dev,
                        const char *id, const char *address, GError **errp)
{
    OrchStoreView *own, *v = twin_begin(&own, errp);

    return v && twin_end(own, orch_route_doc_set(v, TWIN_ROOT, vm, dev, id,
                                                 address, errp), errp);
}
