/*
 * dm-orchestrator: the proxies' counters for /metrics (see
 * proxy-metrics.h).
 *
 * A scrape asks ORCH_PROXY_METRICS_PARALLEL VMs at a time, each call
 * cancelled after ORCH_PROXY_METRICS_VM_MS and all of them at the
 * scrape's deadline: a QEMU (or launcher) that does not answer costs the
 * scrape that much, never the main loop.  The scrape's memory lives
 * until the last call it made has come back, cancelled or not.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "db.h"
#include "launcher.h"
#include "log.h"
#include "prom.h"
#include "records.h"
#include "proxy-metrics.h"

typedef struct ProxyScrape ProxyScrape;

/* A device of a VM, as the database knows it. */
typedef struct ProxyDev {
    char *name;
    char *server;               /* its server platform */
    char *address;              /* the model's address given to QEMU */
    char *route_address;        /* or the owner's router's, if routed */
} ProxyDev;

typedef struct ProxyVm {
    DmPromVm base;              /* first: its name and answer */
    ProxyScrape *s;
    char *client_address;       /* its client platform's launcher */
    GPtrArray *devs;            /* ProxyDev */
    GCancellable *cancel;       /* while asked */
    guint timer;                /* cancels it after ..._VM_MS */
} ProxyVm;

struct ProxyScrape {
    GPtrArray *vms;             /* ProxyVm, by name */
    guint next;                 /* the next VM to ask */
    guint asked;                /* calls not come back yet */
    guint deadline;
    bool finished;              /* @done told */
    OrchProxyMetricsFn *done;
    gpointer opaque;
};

static void proxy_dev_free(gpointer p)
{
    ProxyDev *d = p;

    g_free(d->name);
    g_free(d->server);
    g_free(d->address);
    g_free(d->route_address);
    g_free(d);
}

static void proxy_vm_free(gpointer p)
{
    ProxyVm *vm = p;

    g_free(vm->base.name);
    g_free(vm->client_address);
    g_ptr_array_unref(vm->devs);
    g_clear_object(&vm->cancel);
    if (vm->base.answer) {
        json_array_unref(vm->base.answer);
    }
    g_free(vm);
}

static int proxy_dev_cmp(gconstpointer a, gconstpointer b)
{
    const ProxyDev *x = *(ProxyDev *const *)a, *y = *(ProxyDev *const *)b;

    return strcmp(x->name, y->name);
}

/*
 * VM @name's devices (by name) with where they run, if its QEMU runs;
 * NULL otherwise.
 */
static ProxyVm *proxy_vm(sqlite3 *db, const char *name)
{
    static const char *const holding[] = { "running", "suspended",
                                           "migrating", NULL };
    g_autoptr(JsonObject) doc = orch_rec_vm(db, name);
    g_autoptr(JsonObject) client = NULL;
    const char *state = orch_rec_str(doc, "state");
    const char *c = orch_rec_str(doc, "client");
    JsonArray *devs;
    ProxyVm *vm;
    guint i;

    if (!state || !g_strv_contains(holding, state) || !c) {
        return NULL;
    }
    client = orch_rec_platform(db, c);
    if (!client) {
        return NULL;
    }
    vm = g_new0(ProxyVm, 1);
    vm->base.name = g_strdup(name);
    vm->client_address = g_strdup(orch_rec_str(client, "address"));
    vm->devs = g_ptr_array_new_with_free_func(proxy_dev_free);
    devs = json_object_get_array_member(doc, "devices");
    for (i = 0; i < json_array_get_length(devs); i++) {
        JsonObject *o = json_array_get_object_element(devs, i);
        g_autoptr(JsonObject) p = orch_rec_placement(db, name,
                                                     orch_rec_str(o, "name"));
        ProxyDev *d = g_new0(ProxyDev, 1);

        d->name = g_strdup(orch_rec_str(o, "name"));
        d->server = g_strdup(orch_rec_str(p, "server"));
        d->address = g_strdup(orch_rec_str(p, "address"));
        d->route_address = g_strdup(orch_rec_str(p, "route_address"));
        g_ptr_array_add(vm->devs, d);
    }
    g_ptr_array_sort(vm->devs, proxy_dev_cmp);
    return vm;
}

/* The VMs whose QEMU runs and their devices, read at once. */
static GPtrArray *proxy_vms(sqlite3 *db)
{
    GPtrArray *vms = g_ptr_array_new_with_free_func(proxy_vm_free);
    g_autoptr(GPtrArray) names = orch_rec_vm_names(db);
    guint i;

    for (i = 0; i < names->len; i++) {
        ProxyVm *vm = proxy_vm(db, names->pdata[i]);

        if (vm) {
            g_ptr_array_add(vms, vm);
        }
    }
    return vms;
}

/* ---- Asking ---- */

static void proxy_ask_more(ProxyScrape *s);
static void proxy_finish(ProxyScrape *s);

static void proxy_scrape_free(ProxyScrape *s)
{
    g_ptr_array_unref(s->vms);
    g_free(s);
}

/* A call came back (@vm's, or proxy_finish()'s own hold on @s). */
static void proxy_returned(ProxyScrape *s)
{
    s->asked--;
    if (!s->finished) {
        proxy_ask_more(s);
    } else if (!s->asked) {
        proxy_scrape_free(s);
    }
}

static void proxy_answered(guint status, JsonNode *reply, const char *error,
                           gpointer opaque)
{
    ProxyVm *vm = opaque;
    JsonNode *ret = NULL;

    g_clear_handle_id(&vm->timer, g_source_remove);
    if (reply && JSON_NODE_HOLDS_OBJECT(reply)) {
        ret = json_object_get_member(json_node_get_object(reply), "return");
    }
    if (status == 200 && ret && JSON_NODE_HOLDS_ARRAY(ret)) {
        vm->base.answer = json_array_ref(json_node_get_array(ret));
    } else {
        orch_debug("metrics: VM %s skipped: %s", vm->base.name,
                   error ? error : status != 200 ?
                   "its launcher refused QMP" : "QEMU refused");
    }
    proxy_returned(vm->s);
}

static gboolean proxy_vm_timeout(gpointer opaque)
{
    ProxyVm *vm = opaque;

    vm->timer = 0;
    g_cancellable_cancel(vm->cancel);
    return G_SOURCE_REMOVE;
}

static void proxy_ask(ProxyVm *vm)
{
    g_autofree char *path = g_strdup_printf("/v1/vms/%s/qmp", vm->base.name);
    g_autoptr(JsonNode) body = json_node_new(JSON_NODE_OBJECT);
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "execute", "query-remote-devices");
    json_node_take_object(body, o);
    vm->cancel = g_cancellable_new();
    vm->timer = g_timeout_add(ORCH_PROXY_METRICS_VM_MS, proxy_vm_timeout, vm);
    vm->s->asked++;
    orch_launcher_call_async(vm->client_address, "POST", path, body,
                             (ORCH_PROXY_METRICS_VM_MS + 999) / 1000,
                             vm->cancel, proxy_answered, vm);
}

static void proxy_ask_more(ProxyScrape *s)
{
    while (!s->finished && s->asked < ORCH_PROXY_METRICS_PARALLEL &&
           s->next < s->vms->len) {
        proxy_ask(g_ptr_array_index(s->vms, s->next++));
    }
    if (!s->finished && !s->asked && s->next == s->vms->len) {
        proxy_finish(s);
    }
}

/* ---- The metrics ---- */

/* @vm's device that QEMU's proxy @id at @addr is, or NULL. */
static ProxyDev *proxy_dev(ProxyVm *vm, const char *id, const char *addr)
{
    guint i;

    /* By id (the device's name, qemu-args.c), else by its address. */
    for (i = 0; i < vm->devs->len; i++) {
        ProxyDev *d = g_ptr_array_index(vm->devs, i);

        if (strcmp(d->name, id) == 0) {
            return d;
        }
    }
    for (i = 0; i < vm->devs->len; i++) {
        ProxyDev *d = g_ptr_array_index(vm->devs, i);

        if (g_strcmp0(d->address, addr) == 0 ||
            g_strcmp0(d->route_address, addr) == 0) {
            return d;
        }
    }
    return NULL;
}

/* Our names for QEMU's proxy @info: the device and its server. */
static void proxy_names(DmPromVm *base, JsonObject *info,
                        const char **device, const char **server)
{
    ProxyVm *vm = (ProxyVm *)base;
    const char *id = json_object_get_string_member_with_default(info, "id",
                                                                 "");
    const char *addr = json_object_get_string_member_with_default(
        info, "server", "");
    ProxyDev *d = proxy_dev(vm, id, addr);

    *device = d ? d->name : id;
    *server = d && d->server ? d->server : addr;
}

/* Done asking (all answered, or the deadline): tell, cancel the rest. */
static void proxy_finish(ProxyScrape *s)
{
    guint i;

    s->finished = true;
    g_clear_handle_id(&s->deadline, g_source_remove);
    s->done(dm_prom_proxy_scrape(s->vms, "dm_orchestrator", proxy_names),
            s->opaque);
    /* Held while cancelling: a call may come back from inside. */
    s->asked++;
    for (i = 0; i < s->next; i++) {
        ProxyVm *vm = g_ptr_array_index(s->vms, i);

        g_cancellable_cancel(vm->cancel);
    }
    proxy_returned(s);
}

static gboolean proxy_deadline(gpointer opaque)
{
    ProxyScrape *s = opaque;

    s->deadline = 0;
    proxy_finish(s);
    return G_SOURCE_REMOVE;
}

static gboolean proxy_start(gpointer opaque)
{
    proxy_ask_more(opaque);
    return G_SOURCE_REMOVE;
}

void orch_proxy_metrics_scrape(sqlite3 *db, OrchProxyMetricsFn *done,
                               gpointer opaque)
{
    ProxyScrape *s = g_new0(ProxyScrape, 1);
    guint i;

    s->vms = proxy_vms(db);
    for (i = 0; i < s->vms->len; i++) {
        ((ProxyVm *)g_ptr_array_index(s->vms, i))->s = s;
    }
    s->done = done;
    s->opaque = opaque;
    s->deadline = g_timeout_add(ORCH_PROXY_METRICS_DEADLINE_MS,
                                proxy_deadline, s);
    /* From the main loop, so that @done never comes before we return. */
    g_idle_add(proxy_start, s);
}
