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

static void metrics_vms(GString *out, sqlite3 *db)
{
    static const char *const states[] = {
        "defined", "running", "suspended", "stopped", "migrating", "saved",
    };
    size_t i;

    dm_prom_header(out, "dm_orchestrator_vms", "gauge", "VMs by state.");
    for (i = 0; i < G_N_ELEMENTS(states); i++) {
        g_string_append_printf(out, "dm_orchestrator_vms{state=\"%s\"} %"
                               G_GINT64_FORMAT "\n", states[i],
                               orch_db_int(db, 0, "SELECT count(*) FROM vms"
                                           " WHERE state = ?", "s",
                                           states[i]));
    }
}

/* Rows of (labels..., count) as NAME{label="v",...} count. */
static void metrics_rows(GString *out, sqlite3 *db, const char *name,
                         const char *const *labels, const char *sql)
{
    g_autoptr(sqlite3_stmt) st = orch_db_stmt(db, sql, "");
    int i;

    while (st && sqlite3_step(st) == SQLITE_ROW) {
        g_string_append_printf(out, "%s{", name);
        for (i = 0; labels[i]; i++) {
            const char *v = (const char *)sqlite3_column_text(st, i);

            g_string_append_printf(out, "%s%s=\"", i ? "," : "", labels[i]);
            dm_prom_label(out, v ? v : "");
            g_string_append_c(out, '"');
        }
        g_string_append_printf(out, "} %" G_GINT64_FORMAT "\n",
                               (gint64)sqlite3_column_int64(st, i));
    }
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
    static const char *const dm_labels[] = { "server", "state", NULL };
    static const char *const pf_labels[] = { "role", NULL };
    const char *method = soup_server_message_get_method(msg);
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
    /* One snapshot of the tables, as a read-only request has. */
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    metrics_vms(a->out, db);
    dm_prom_header(a->out, "dm_orchestrator_device_models", "gauge",
                   "Placed device models by server and recorded state.");
    metrics_rows(a->out, db, "dm_orchestrator_device_models", dm_labels,
                 "SELECT p.name, pl.state, count(*) FROM placements pl"
                 " JOIN platforms p ON p.id = pl.server_id"
                 " GROUP BY p.name, pl.state ORDER BY p.name, pl.state");
    dm_prom_header(a->out, "dm_orchestrator_platforms", "gauge",
                   "Platforms by role.");
    metrics_rows(a->out, db, "dm_orchestrator_platforms", pf_labels,
                 "SELECT role, count(*) FROM platforms GROUP BY role"
                 " ORDER BY role");
    /* The running VMs read in the same snapshot; their QEMUs asked after. */
    orch_proxy_metrics_scrape(db, metrics_answer, a);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    soup_server_message_pause(msg);
}
