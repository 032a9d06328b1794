/*
 * A client launcher's proxies' series (see proxy-metrics.h).
 *
 * QMP calls cannot be withdrawn (qmp.c): one comes back with QEMU's
 * answer, at its own 30 s timeout, or when its VM goes.  So the scrape
 * answers at its deadline with what it has, and its memory lives until
 * its last call is back; a VM whose call is still out is not asked again
 * (proxy_asking), so a mute QEMU holds one call, not one per scrape.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "log.h"
#include "prom.h"
#include "proxy-metrics.h"

typedef struct ProxyScrape ProxyScrape;

typedef struct ProxyVm {
    DmPromVm base;              /* first: its name and answer */
    ProxyScrape *s;
} ProxyVm;

struct ProxyScrape {
    DmClient *c;
    GPtrArray *vms;             /* ProxyVm, by name */
    guint out;                  /* calls not back yet, + 1 while asking */
    guint deadline;
    bool finished;              /* @done told */
    DmProxyMetricsFn *done;
    gpointer opaque;
};

/* Names of the VMs with a call out, from any scrape. */
static GHashTable *proxy_asking;

static void proxy_vm_free(gpointer p)
{
    ProxyVm *vm = p;

    g_free(vm->base.name);
    if (vm->base.answer) {
        json_array_unref(vm->base.answer);
    }
    g_free(vm);
}

static int proxy_vm_cmp(gconstpointer a, gconstpointer b)
{
    const ProxyVm *x = *(ProxyVm *const *)a, *y = *(ProxyVm *const *)b;

    return strcmp(x->base.name, y->base.name);
}

static void proxy_finish(ProxyScrape *s)
{
    s->finished = true;
    g_clear_handle_id(&s->deadline, g_source_remove);
    s->done(dm_prom_proxy_scrape(s->vms, "dm_launcher", NULL), s->opaque);
}

/* A call came back, or the asking is over: the last one frees @s. */
static void proxy_returned(ProxyScrape *s)
{
    if (--s->out) {
        return;
    }
    if (!s->finished) {
        proxy_finish(s);
    }
    g_ptr_array_unref(s->vms);
    g_free(s);
}

static void proxy_answered(JsonNode *reply, const char *error, void *opaque)
{
    ProxyVm *vm = opaque;
    JsonNode *ret = NULL;

    g_hash_table_remove(proxy_asking, vm->base.name);
    if (reply && JSON_NODE_HOLDS_OBJECT(reply)) {
        ret = json_object_get_member(json_node_get_object(reply), "return");
    }
    if (vm->s->finished) {
        dm_debug("metrics: VM %s answered after the scrape", vm->base.name);
    } else if (ret && JSON_NODE_HOLDS_ARRAY(ret)) {
        vm->base.answer = json_array_ref(json_node_get_array(ret));
    } else {
        dm_debug("metrics: VM %s skipped: %s", vm->base.name,
                 error ? error : "QEMU refused query-remote-devices");
    }
    proxy_returned(vm->s);
}

static gboolean proxy_deadline(gpointer opaque)
{
    ProxyScrape *s = opaque;

    s->deadline = 0;
    proxy_finish(s);
    return G_SOURCE_REMOVE;
}

/* From the main loop: an answer may come back from inside the call. */
static gboolean proxy_start(gpointer opaque)
{
    ProxyScrape *s = opaque;
    guint i;

    for (i = 0; i < s->vms->len; i++) {
        ProxyVm *pv = g_ptr_array_index(s->vms, i);
        DmVm *vm = g_hash_table_lookup(s->c->vms, pv->base.name);
        g_autoptr(JsonObject) cmd = NULL;

        if (!vm || vm->state != DM_VM_RUNNING || !vm->qmp ||
            g_hash_table_contains(proxy_asking, pv->base.name)) {
            continue;           /* gone, or still owing the last answer */
        }
        cmd = json_object_new();
        json_object_set_string_member(cmd, "execute",
                                      "query-remote-devices");
        g_hash_table_add(proxy_asking, g_strdup(pv->base.name));
        s->out++;
        dm_qmp_execute(vm->qmp, cmd, proxy_answered, pv);
    }
    proxy_returned(s);          /* the asking's own hold */
    return G_SOURCE_REMOVE;
}

void dm_proxy_metrics_scrape(DmClient *c, DmProxyMetricsFn *done,
                             gpointer opaque)
{
    ProxyScrape *s = g_new0(ProxyScrape, 1);
    GHashTableIter it;
    DmVm *vm;

    if (!proxy_asking) {
        proxy_asking = g_hash_table_new_full(g_str_hash, g_str_equal,
                                             g_free, NULL);
    }
    s->c = c;
    s->vms = g_ptr_array_new_with_free_func(proxy_vm_free);
    g_hash_table_iter_init(&it, c->vms);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&vm)) {
        if (vm->state == DM_VM_RUNNING) {
            ProxyVm *pv = g_new0(ProxyVm, 1);

            pv->s = s;
            pv->base.name = g_strdup(vm->child.id);
            g_ptr_array_add(s->vms, pv);
        }
    }
    g_ptr_array_sort(s->vms, proxy_vm_cmp);
    s->done = done;
    s->opaque = opaque;
    s->out = 1;
    s->deadline = g_timeout_add(DM_PROXY_METRICS_MS, proxy_deadline, s);
    g_idle_add(proxy_start, s);
}
