/*
 * The launcher's Prometheus metrics (see metrics.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "http.h"
#include "metrics.h"
#include "prom.h"
#include "proxy-metrics.h"

/* Every state, so that a series exists at 0 too. */
static const char *const inst_states[] = {
    "starting", "running", "exited", "restarting", "stopped",
};
static const char *const vm_states[] = {
    "starting", "running", "exited", "stopped",
};

/* Names here are ids and model names: vup_name_valid(), nothing to escape. */
static void metrics_count(GHashTable *counts, const char *key, guint add)
{
    gpointer n = g_hash_table_lookup(counts, key);

    g_hash_table_insert(counts, g_strdup(key),
                        GUINT_TO_POINTER(GPOINTER_TO_UINT(n) + add));
}

static guint metrics_get(GHashTable *counts, const char *key)
{
    return GPOINTER_TO_UINT(g_hash_table_lookup(counts, key));
}

static void metrics_server(DmServer *s, GString *out)
{
    g_autoptr(GHashTable) states = g_hash_table_new_full(g_str_hash,
                                                         g_str_equal,
                                                         g_free, NULL);
    g_autoptr(GHashTable) restarts = g_hash_table_new_full(g_str_hash,
                                                           g_str_equal,
                                                           g_free, NULL);
    GHashTableIter it;
    DmInstance *inst;
    char **m;
    size_t i;

    g_hash_table_iter_init(&it, s->instances);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&inst)) {
        g_autoptr(JsonObject) o = dm_instance_json(inst);
        g_autofree char *key = g_strdup_printf(
            "%s %s", inst->what, json_object_get_string_member(o, "state"));

        metrics_count(states, key, 1);
        metrics_count(restarts, inst->what, inst->child.restarts);
    }
    dm_prom_header(out, "dm_launcher_instances", "gauge",
                   "Device model instances by model and state.");
    for (m = s->models; *m; m++) {
        for (i = 0; i < G_N_ELEMENTS(inst_states); i++) {
            g_autofree char *key = g_strdup_printf("%s %s", *m,
                                                   inst_states[i]);

            g_string_append_printf(out, "dm_launcher_instances{model=\"%s\","
                                   "state=\"%s\"} %u\n", *m, inst_states[i],
                                   metrics_get(states, key));
        }
    }
    dm_prom_header(out, "dm_launcher_instance_restarts", "gauge",
                   "Restarts of the current instances, by model.");
    for (m = s->models; *m; m++) {
        g_string_append_printf(out, "dm_launcher_instance_restarts{model="
                               "\"%s\"} %u\n", *m, metrics_get(restarts, *m));
    }
    dm_prom_header(out, "dm_launcher_capacity", "gauge",
                   "Instances this platform takes (--capacity).");
    g_string_append_printf(out, "dm_launcher_capacity %u\n", s->l->capacity);
}

static void metrics_client(DmClient *c, GString *out)
{
    g_autoptr(GHashTable) states = g_hash_table_new_full(g_str_hash,
                                                         g_str_equal,
                                                         g_free, NULL);
    GHashTableIter it;
    DmVm *vm;
    size_t i;

    g_hash_table_iter_init(&it, c->vms);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&vm)) {
        g_autoptr(JsonObject) o = dm_vm_json(vm);

        metrics_count(states, json_object_get_string_member(o, "state"), 1);
    }
    dm_prom_header(out, "dm_launcher_vms", "gauge", "QEMUs by state.");
    for (i = 0; i < G_N_ELEMENTS(vm_states); i++) {
        g_string_append_printf(out, "dm_launcher_vms{state=\"%s\"} %u\n",
                               vm_states[i], metrics_get(states,
                                                         vm_states[i]));
    }
}

static void metrics_send(SoupServerMessage *msg, GString *out)
{
    gsize len = out->len;

    soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
    soup_server_message_set_response(msg, "text/plain; version=0.0.4; "
                                     "charset=utf-8", SOUP_MEMORY_TAKE,
                                     g_string_free(out, FALSE), len);
}

/* A client's answer, waiting for its QEMUs' proxies. */
typedef struct MetricsAnswer {
    SoupServerMessage *msg;
    GString *out;
} MetricsAnswer;

static void metrics_proxies(GString *proxies, gpointer opaque)
{
    MetricsAnswer *a = opaque;

    g_string_append_len(a->out, proxies->str, proxies->len);
    g_string_free(proxies, TRUE);
    metrics_send(a->msg, a->out);
    dm_http_resume(a->msg);
    g_free(a);
}

void dm_metrics_serve(DmLauncher *l, DmServer *server, DmClient *client,
                      SoupServerMessage *msg)
{
    GString *out;

    if (dm_http_want_method(msg, "GET") < 0) {
        return;
    }
    out = g_string_new(NULL);
    dm_prom_header(out, "dm_launcher_info", "gauge",
                   "This launcher's platform and role.");
    g_string_append_printf(out, "dm_launcher_info{platform=\"%s\",role="
                           "\"%s\"} 1\n", l->platform_id,
                           server ? "server" : "client");
    if (server) {
        metrics_server(server, out);
        metrics_send(msg, out);
    } else {
        MetricsAnswer *a = g_new0(MetricsAnswer, 1);

        metrics_client(client, out);
        a->msg = msg;
        a->out = out;
        /* The VMs' states now; their QEMUs asked after, the API free. */
        dm_http_defer(msg);
        dm_proxy_metrics_scrape(client, metrics_proxies, a);
    }
}
