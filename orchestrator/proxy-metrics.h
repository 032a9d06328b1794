/*
 * dm-orchestrator: the proxies' counters for /metrics (proxy-metrics.c),
 * asked of each running VM's QEMU (query-remote-devices, through its
 * client launcher's QMP relay) while the main loop goes on.
 *
 *   dm_proxy_connected{vm,device,server}       1 if the proxy reaches its
 *                                              model, else 0 (gauge)
 *   dm_proxy_requests_total{vm,device,server}  messages sent to the model
 *   dm_proxy_errors_total{...}                 accesses that failed
 *   dm_proxy_reconnects_total{...}             models found again
 *   dm_proxy_round_trip_seconds{...}           the round trips' durations
 *                                              (histogram, le 1 us ..
 *                                              2^20 us, +Inf)
 *   dm_orchestrator_proxy_vm_up{vm}            1 if the VM's QEMU answered
 *                                              in this scrape, else 0
 *   dm_orchestrator_proxy_vms_skipped          running VMs whose QEMU did
 *                                              not answer in time (gauge)
 *
 * The counters are QEMU's since its start (counters in Prometheus' sense:
 * a restarted VM starts again from 0).  device is the orchestrator's name
 * for the device, server its server platform's; a proxy the database
 * does not know keeps QEMU's id and address.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_PROXY_METRICS_H
#define ORCH_PROXY_METRICS_H

#include <glib.h>
#include <sqlite3.h>

/* How long one VM's QEMU may take to answer. */
#define ORCH_PROXY_METRICS_VM_MS        2000
/* How long a scrape may take: the VMs not answered by then are skipped. */
#define ORCH_PROXY_METRICS_DEADLINE_MS  5000
/* VMs asked at once. */
#define ORCH_PROXY_METRICS_PARALLEL     16

/* The metrics' text, given to the caller (who frees it). */
typedef void OrchProxyMetricsFn(GString *text, gpointer opaque);

/*
 * Ask the QEMU of each VM that runs (as @db says now) for its proxies'
 * counters, and give @done their metrics from the main loop, always
 * later than this call, within ORCH_PROXY_METRICS_DEADLINE_MS or so.
 * Main thread only.
 */
void orch_proxy_metrics_scrape(sqlite3 *db, OrchProxyMetricsFn *done,
                               gpointer opaque);

#endif /* ORCH_PROXY_METRICS_H */
