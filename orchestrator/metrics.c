/*
 * dm-orchestrator: Prometheus metrics (see metrics.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "db.h"
#include "metrics.h"
#include "prom.h"
#include "proxy-metrics.h"
#include "records.h"
#include "records-bind.h"

/* "METHOD ROUTE STATUS" -> count */
static GHashTable *metrics_calls;

void orch_metrics_count(const char *method, const char *route, guint status)
{
    /*
     * The method is the client's to choose: one series per made-up one
     * would grow this table (and /metrics) without end.
     */
    static const char *const methods[] = {
        "GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS", NULL,
    };
    char *key = g_strdup_printf("%s %s %u",
                                g_strv_contains(methods, method) ? method :
                                "other", route ? route : "none", status);
    gpointer n;

    if (!metrics_calls) {
        metrics_calls = g_hash_table_new_full(g_str_hash, g_str_equal,
                                              g_free, NULL);
    }
    n = g_hash_table_lookup(metrics_calls, key);
    g_hash_table_replace(metrics_calls, key,
                         GSIZE_TO_POINTER(GPOINTER_TO_SIZE(n) + 1));
}

/* Our route patterns name their '*' segments for people. */
static void metrics_route(GString *out, const char *route)
{
    g_auto(GStrv) seg = g_strsplit(route, "/", -1);
    guint i;

    for (i = 0; seg[i]; i++) {
        g_string_append(out, i ? "/" : "");
        dm_prom_label(out, strcmp(seg[i], "*") ? seg[i] : "{name}");
    }
}

/* Add one to @counts' entry for @key ("v1\001v2": the labels' values). */
static void metrics_count(GTree *counts, const char *key)
{
    gpointer n = g_tree_lookup(counts, key);

    g_tree_replace(counts, g_strdup(key),
                   GSIZE_TO_POINTER(GPOINTER_TO_SIZE(n) + 1));
}

typedef struct MetricsRows {
    GString *out;
    const char *name;
    const char *const *labels;
} MetricsRows;

static gboolean metrics_row(gpointer key, gpointer value, gpointer opaque)
{
    MetricsRows *m = opaque;
    g_auto(GStrv) v = g_strsplit(key, "\001", -1);
    int i;

    g_string_append_printf(m->out, "%s{", m->name);
    for (i = 0; m->labels[i]; i++) {
        g_string_append_printf(m->out, "%s%s=\"", i ? "," : "",
                               m->labels[i]);
        dm_prom_label(m->out, v[i] ? v[i] : "");
        g_string_append_c(m->out, '"');
    }
    g_string_append_printf(m->out, "} %" G_GSIZE_FORMAT "\n",
                           GPOINTER_TO_SIZE(value));
    return FALSE;
}

/* @counts as NAME{label="v",...} count, in the order of their values. */
static void metrics_rows(GString *out, const char *name,
                         const char *const *labels, GTree *counts)
{
    MetricsRows m = { out, name, labels };

    g_tree_foreach(counts, metrics_row, &m);
}

static gint metrics_key_cmp(gconstpointer a, gconstpointer b,
                            gpointer opaque)
{
    return strcmp(a, b);
}

static GTree *metrics_counts(void)
{
    return g_tree_new_full(metrics_key_cmp, NULL, g_free, NULL);
}

/*
 * The VMs by state, and their placed models by server and state, from
 * their documents (records.h).
 */
static void metrics_vms(GString *out, sqlite3 *db)
{
    static const char *const states[] = {
        "defined", "running", "suspended", "stopped", "migrating", "saved",
    };
    static const char *const dm_labels[] = { "server", "state", NULL };
    g_autoptr(GPtrArray) names = orch_rec_vm_names(db);
    g_autoptr(GTree) dms = metrics_counts();
    gsize count[G_N_ELEMENTS(states)] = { 0 };
    size_t i, j;

    for (i = 0; i < names->len; i++) {
        g_autoptr(JsonObject) vm = orch_rec_vm(db, names->pdata[i]);
        const char *state = orch_rec_str(vm, "state");
        JsonArray *devs;

        for (j = 0; state && j < G_N_ELEMENTS(states); j++) {
            count[j] += strcmp(state, states[j]) == 0;
        }
        devs = vm ? json_object_get_array_member(vm, "devices") : NULL;
        for (j = 0; devs && j < json_array_get_length(devs); j++) {
            g_autoptr(JsonObject) p = orch_rec_placement(
                db, names->pdata[i], orch_rec_str(
                    json_array_get_object_element(devs, j), "name"));
            g_autofree char *key = NULL;

            if (p) {
                key = g_strconcat(orch_rec_str(p, "server"), "\001",
                                  orch_rec_str(p, "state"), NULL);
                metrics_count(dms, key);
            }
        }
    }
    dm_prom_header(out, "dm_orchestrator_vms", "gauge", "VMs by state.");
    for (i = 0; i < G_N_ELEMENTS(states); i++) {
        g_string_append_printf(out, "dm_orchestrator_vms{state=\"%s\"} %"
                               G_GSIZE_FORMAT "\n", states[i], count[i]);
    }
    dm_prom_header(out, "dm_orchestrator_device_models", "gauge",
                   "Placed device models by server and recorded state.");
    metrics_rows(out, "dm_orchestrator_device_models", dm_labels, dms);
}

static void metrics_platforms(GString *out, sqlite3 *db)
{
    static const char *const pf_labels[] = { "role", NULL };
    g_autoptr(GPtrArray) platforms = orch_rec_platforms(db);
    g_autoptr(GTree) roles = metrics_counts();
    guint i;

    for (i = 0; i < platforms->len; i++) {
        const char *role = orch_rec_str(platforms->pdata[i], "role");

        if (role) {
            metrics_count(roles, role);
        }
    }
    dm_prom_header(out, "dm_orchestrator_platforms", "gauge",
                   "Platforms by role.");
    metrics_rows(out, "dm_orchestrator_platforms", pf_labels, roles);
}

static void metrics_calls_out(GString *out)
{
    g_autoptr(GList) keys = NULL;
    GList *l;

    dm_prom_header(out, "dm_orchestrator_api_requests_total", "counter",
                   "API requests answered, by method, route and status.");
    if (!metrics_calls) {
        return;
    }
    keys = g_list_sort(g_hash_table_get_keys(metrics_calls),
                       (GCompareFunc)strcmp);
    for (l = keys; l; l = l->next) {
        g_auto(GStrv) f = g_strsplit(l->data, " ", 3);

        g_string_append_printf(out, "dm_orchestrator_api_requests_total{"
                               "method=\"%s\",route=\"", f[0]);
        metrics_route(out, f[1]);
        g_string_append_printf(out, "\",status=\"%s\"} %" G_GSIZE_FORMAT
                               "\n", f[2], GPOINTER_TO_SIZE(
                                   g_hash_table_lookup(metrics_calls,
                                                       l->data)));
    }
}

/* An answer waiting for the proxies' counters. */
typedef struct MetricsAnswer {
    SoupServerMessage *msg;
    GString *out;
} MetricsAnswer;

static void metrics_answer(GString *proxies, gpointer opaque)
{
    MetricsAnswer *a = opaque;
    GString *out = a->out;
    gsize len;

    g_string_append_len(out, proxies->str, proxies->len);
    g_string_free(proxies, TRUE);
    metrics_calls_out(out);
    len = out->len;
    soup_server_message_set_status(a->msg, 200, NULL);
    soup_server_message_set_response(a->msg,
                                     "text/plain; version=0.0.4; "
                                     "charset=utf-8", SOUP_MEMORY_TAKE,
                                     g_string_free(out, FALSE), len);
    soup_server_message_unpause(a->msg);
    g_object_unref(a->msg);
    g_free(a);
}

void orch_metrics_serve(SoupServerMessage *msg, sqlite3 *db)
{
    const char *method = soup_server_message_get_method(msg);
    OrchStoreView *reads = NULL;
    MetricsAnswer *a;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        soup_message_headers_replace(
            soup_server_message_get_response_headers(msg), "Allow",
            "GET, HEAD");
        soup_server_message_set_status(msg, 405, NULL);
        return;
    }
    a = g_new0(MetricsAnswer, 1);
    a->msg = g_object_ref(msg);
    a->out = g_string_new(NULL);
    /*
     * One snapshot, as a read-only request has: the store through a view
     * of its own, never committed (records-bind.h).
     */
    orch_rec_twin_bind(&reads);
    metrics_vms(a->out, db);
    metrics_platforms(a->out, db);
    /* The running VMs read in the same snapshot; their QEMUs asked after. */
    orch_proxy_metrics_scrape(db, metrics_answer, a);
    orch_rec_twin_bind(NULL);
    g_clear_pointer(&reads, orch_view_free);
    soup_server_message_pause(msg);
}
