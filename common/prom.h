/*
 * Prometheus' text format 0.0.4 (prom.c), for the /metrics of
 * dm-orchestrator (metrics.c, proxy-metrics.c) and of the launcher
 * (dm-remote/launcher/metrics.c, proxy-metrics.c): the proxies' series
 * are written here once, so that both name and describe them alike.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_PROM_H
#define DM_PROM_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>

/* "# HELP NAME HELP" and "# TYPE NAME TYPE", once before its samples. */
void dm_prom_header(GString *out, const char *name, const char *type,
                    const char *help);
/* @v as a label value wants it: \\, \" and \n escaped. */
void dm_prom_label(GString *out, const char *v);

/*
 * A running VM in a scrape: both callers' own records start with it, so
 * that one piece of code turns the answers into the families below.
 */
typedef struct DmPromVm {
    char *name;
    JsonArray *answer;          /* its QEMU's query-remote-devices, or NULL */
} DmPromVm;

/*
 * Our names for the proxy @info of @vm's QEMU: its device and server
 * platform.  Without one, QEMU's own "id" and "server" are the names.
 */
typedef void DmPromNamesFn(DmPromVm *vm, JsonObject *info,
                           const char **device, const char **server);

/*
 * The proxies of the VMs in @vms (DmPromVm *, in the order to print),
 * named by @names (or NULL), as the families:
 *
 *   dm_proxy_connected{vm,device,server}       1 if the proxy reaches its
 *                                              model, else 0 (gauge)
 *   dm_proxy_requests_total{...}               messages sent to the model
 *   dm_proxy_errors_total{...}                 accesses that failed
 *   dm_proxy_reconnects_total{...}             models found again
 *   dm_proxy_round_trip_seconds{...}           the round trips' durations
 *                                              (histogram, le 1 us ..
 *                                              2^20 us, +Inf), for a QEMU
 *                                              that gives "latency"
 *
 * each with its HELP and TYPE even without a sample, then which VMs'
 * QEMUs answered this scrape:
 *
 *   @who_proxy_vm_up{vm}       1 if it answered, else 0 (gauge)
 *   @who_proxy_vms_skipped     how many did not (gauge)
 *
 * @who: "dm_orchestrator" or "dm_launcher".
 */
GString *dm_prom_proxy_scrape(GPtrArray *vms, const char *who,
                              DmPromNamesFn *names);

#endif /* DM_PROM_H */
