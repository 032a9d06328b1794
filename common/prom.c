/*
 * Prometheus' text format (see prom.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "prom.h"

/* One proxy of a VM's QEMU, with the labels its scrape gave it. */
typedef struct DmPromProxy {
    const char *vm;
    const char *device;
    const char *server;
    JsonObject *info;           /* its query-remote-devices entry */
} DmPromProxy;

void dm_prom_header(GString *out, const char *name, const char *type,
                    const char *help)
{
    g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
                           name, type);
}

void dm_prom_label(GString *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') {
            g_string_append_c(out, '\\');
            g_string_append_c(out, *v);
        } else if (*v == '\n') {
            g_string_append(out, "\\n");
        } else {
            g_string_append_c(out, *v);
        }
    }
}

/* NAME{vm=...,device=...,server=... (without the closing brace). */
static void prom_proxy_open(GString *out, const char *name,
                            const DmPromProxy *p)
{
    g_string_append_printf(out, "%s{vm=\"", name);
    dm_prom_label(out, p->vm);
    g_string_append(out, "\",device=\"");
    dm_prom_label(out, p->device);
    g_string_append(out, "\",server=\"");
    dm_prom_label(out, p->server);
    g_string_append_c(out, '"');
}

/*
 * QEMU's log2 buckets (qapi/remote-dm.json: entry i holds the round
 * trips of at most 2^i us, the last one the rest) as Prometheus'
 * cumulative ones, ending in +Inf, which equals _count by construction.
 */
static void prom_proxy_histogram(GString *out, const DmPromProxy *p)
{
    JsonNode *ln = json_object_get_member(p->info, "latency");
    JsonObject *lat = ln && JSON_NODE_HOLDS_OBJECT(ln) ?
                      json_node_get_object(ln) : NULL;
    JsonNode *bn = lat ? json_object_get_member(lat, "buckets") : NULL;
    JsonArray *b = bn && JSON_NODE_HOLDS_ARRAY(bn) ?
                   json_node_get_array(bn) : NULL;
    guint n = b ? json_array_get_length(b) : 0;
    gint64 total = 0;
    gint64 sum_ns;
    guint i;

    if (!n || n > 63) {
        return;                 /* a QEMU without the histogram */
    }
    for (i = 0; i < n; i++) {
        guint64 us = G_GUINT64_CONSTANT(1) << i;

        total += json_array_get_int_element(b, i);
        prom_proxy_open(out, "dm_proxy_round_trip_seconds_bucket", p);
        if (i + 1 < n) {
            g_string_append_printf(out, ",le=\"%" G_GUINT64_FORMAT ".%06"
                                   G_GUINT64_FORMAT "\"} %" G_GINT64_FORMAT
                                   "\n", us / 1000000, us % 1000000, total);
        } else {
            g_string_append_printf(out, ",le=\"+Inf\"} %" G_GINT64_FORMAT
                                   "\n", total);
        }
    }
    sum_ns = json_object_get_int_member_with_default(lat, "sum-ns", 0);
    prom_proxy_open(out, "dm_proxy_round_trip_seconds_sum", p);
    g_string_append_printf(out, "} %" G_GINT64_FORMAT ".%09" G_GINT64_FORMAT
                           "\n", sum_ns / 1000000000, sum_ns % 1000000000);
    prom_proxy_open(out, "dm_proxy_round_trip_seconds_count", p);
    g_string_append_printf(out, "} %" G_GINT64_FORMAT "\n", total);
}

static void prom_proxies(GString *out, GPtrArray *proxies)
{
    static const char *const counters[][3] = {
        { "dm_proxy_requests_total", "requests",
          "Messages a proxy sent to its model, by VM, device and server." },
        { "dm_proxy_errors_total", "errors",
          "Accesses of a proxy that failed, refused while disconnected "
          "included." },
        { "dm_proxy_reconnects_total", "reconnects",
          "Times a proxy found its model again after a fault." },
    };
    guint i, j;

    dm_prom_header(out, "dm_proxy_connected", "gauge",
                   "Whether a proxy reaches its model, as its VM's QEMU "
                   "says.");
    for (j = 0; j < proxies->len; j++) {
        const DmPromProxy *p = g_ptr_array_index(proxies, j);
        const char *state = json_object_get_string_member_with_default(
            p->info, "state", "");

        prom_proxy_open(out, "dm_proxy_connected", p);
        g_string_append_printf(out, "} %d\n",
                               strcmp(state, "connected") == 0);
    }
    for (i = 0; i < G_N_ELEMENTS(counters); i++) {
        dm_prom_header(out, counters[i][0], "counter", counters[i][2]);
        for (j = 0; j < proxies->len; j++) {
            const DmPromProxy *p = g_ptr_array_index(proxies, j);

            prom_proxy_open(out, counters[i][0], p);
            g_string_append_printf(out, "} %" G_GINT64_FORMAT "\n",
                                   json_object_get_int_member_with_default(
                                       p->info, counters[i][1], 0));
        }
    }
    dm_prom_header(out, "dm_proxy_round_trip_seconds", "histogram",
                   "Round trips of a proxy to its model (requests that "
                   "wait for a reply), by duration.");
    for (j = 0; j < proxies->len; j++) {
        prom_proxy_histogram(out, g_ptr_array_index(proxies, j));
    }
}

static void prom_proxy_vms(GString *out, const char *who, GPtrArray *vms)
{
    g_autofree char *vm_up = g_strconcat(who, "_proxy_vm_up", NULL);
    g_autofree char *skip = g_strconcat(who, "_proxy_vms_skipped", NULL);
    guint i, skipped = 0;

    dm_prom_header(out, vm_up, "gauge",
                   "Whether a running VM's QEMU answered "
                   "query-remote-devices in this scrape.");
    for (i = 0; i < vms->len; i++) {
        const DmPromVm *vm = g_ptr_array_index(vms, i);

        g_string_append_printf(out, "%s{vm=\"", vm_up);
        dm_prom_label(out, vm->name);
        g_string_append_printf(out, "\"} %d\n", vm->answer != NULL);
        skipped += !vm->answer;
    }
    dm_prom_header(out, skip, "gauge",
                   "Running VMs whose QEMU did not answer in time in this "
                   "scrape.");
    g_string_append_printf(out, "%s %u\n", skip, skipped);
}

/* Every proxy of every VM that answered, with its names. */
static GPtrArray *prom_proxy_list(GPtrArray *vms, DmPromNamesFn *names)
{
    GPtrArray *all = g_ptr_array_new_with_free_func(g_free);
    guint i, j;

    for (i = 0; i < vms->len; i++) {
        DmPromVm *vm = g_ptr_array_index(vms, i);

        for (j = 0; vm->answer && j < json_array_get_length(vm->answer);
             j++) {
            JsonNode *n = json_array_get_element(vm->answer, j);
            DmPromProxy *p;

            if (!JSON_NODE_HOLDS_OBJECT(n)) {
                continue;
            }
            p = g_new0(DmPromProxy, 1);
            p->vm = vm->name;
            p->info = json_node_get_object(n);
            if (names) {
                names(vm, p->info, &p->device, &p->server);
            } else {
                p->device = json_object_get_string_member_with_default(
                    p->info, "id", "");
                p->server = json_object_get_string_member_with_default(
                    p->info, "server", "");
            }
            g_ptr_array_add(all, p);
        }
    }
    return all;
}

GString *dm_prom_proxy_scrape(GPtrArray *vms, const char *who,
                              DmPromNamesFn *names)
{
    g_autoptr(GPtrArray) proxies = prom_proxy_list(vms, names);
    GString *out = g_string_new(NULL);

    prom_proxies(out, proxies);
    prom_proxy_vms(out, who, vms);
    return out;
}
