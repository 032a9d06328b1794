/*
 * dm-orchestrator: GET /metrics in Prometheus' text format 0.0.4
 * (metrics.c).
 *
 *   dm_orchestrator_vms{state}                  VMs by state (gauge)
 *   dm_orchestrator_device_models{server,state} placed device models, as
 *                                               recorded (gauge; their
 *                                               live state is the
 *                                               launcher's /metrics)
 *   dm_orchestrator_platforms{role}             platforms (gauge)
 *   dm_orchestrator_api_requests_total{method,route,status}
 *                                               API calls answered since
 *                                               start (counter); route is
 *                                               the pattern ("vms/{name}")
 *   dm_proxy_*{vm,device,server}, ...           the proxies' counters and
 *                                               latency histograms, from
 *                                               each running VM's QEMU
 *                                               (proxy-metrics.h)
 *
 * Main thread only: the counts are taken where answers are sent.  The
 * answer waits (paused, the main loop going on) for the QEMUs, at most
 * ORCH_PROXY_METRICS_DEADLINE_MS.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_METRICS_H
#define ORCH_METRICS_H

#include <libsoup/soup.h>
#include <sqlite3.h>

/* Count one answer; @route NULL for a path that is no route. */
void orch_metrics_count(const char *method, const char *route, guint status);
/* Answer @msg with the metrics, reading the database with @db. */
void orch_metrics_serve(SoupServerMessage *msg, sqlite3 *db);

#endif /* ORCH_METRICS_H */
