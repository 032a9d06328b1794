/*
 * A client launcher's proxies' series for /metrics (proxy-metrics.c):
 * each running VM's QEMU asked query-remote-devices while the main loop
 * goes on, the same families as dm-orchestrator's (common/prom.h,
 * dm_prom_proxies), labelled vm (our id), device (QEMU's id for the
 * proxy) and server (the model's address QEMU was given), and:
 *
 *   dm_launcher_proxy_vm_up{vm}        1 if the VM's QEMU answered in
 *                                      this scrape, else 0
 *   dm_launcher_proxy_vms_skipped      running VMs whose QEMU did not
 *                                      answer in time (gauge)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_LAUNCHER_PROXY_METRICS_H
#define DM_LAUNCHER_PROXY_METRICS_H

#include <glib.h>

#include "vm.h"

/*
 * How long a scrape waits for the QEMUs, asked all at once: one VM's
 * bound and the scrape's.  A QEMU still owing the last scrape's answer
 * is not asked again (skipped): one call at most waits in its QMP queue.
 */
#define DM_PROXY_METRICS_MS 2000

/* The metrics' text, given to the caller (who frees it). */
typedef void DmProxyMetricsFn(GString *text, gpointer opaque);

/*
 * Ask the QEMU of each VM of @c that runs for its proxies' counters and
 * give @done their metrics from the main loop, always later than this
 * call, within DM_PROXY_METRICS_MS or so.  Main thread only.
 */
void dm_proxy_metrics_scrape(DmClient *c, DmProxyMetricsFn *done,
                             gpointer opaque);

#endif /* DM_LAUNCHER_PROXY_METRICS_H */
