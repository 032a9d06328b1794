/*
 * The launcher's GET /metrics, in Prometheus' text format 0.0.4
 * (metrics.c): what it supervises, by state.
 *
 *   dm_launcher_info{platform,role}           1
 *   server role:
 *   dm_launcher_instances{model,state}        model instances (gauge)
 *   dm_launcher_instance_restarts{model}      restarts of the instances
 *                                             it has now (gauge: an
 *                                             instance's count leaves
 *                                             with it)
 *   dm_launcher_capacity                      --capacity
 *   client role:
 *   dm_launcher_vms{state}                    QEMUs (gauge)
 *   dm_proxy_*{vm,device,server}, dm_launcher_proxy_vm_up{vm},
 *   dm_launcher_proxy_vms_skipped             the running VMs' proxies,
 *                                             asked of their QEMUs
 *                                             (proxy-metrics.h): a
 *                                             client's answer waits for
 *                                             them, the API does not
 *
 * Below api.c, which calls it; it only reads the role's tables.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_LAUNCHER_METRICS_H
#define DM_LAUNCHER_METRICS_H

#include <libsoup/soup.h>

#include "instance.h"
#include "launcher.h"
#include "vm.h"

/* @server for the server role, @client for the client role (one NULL). */
void dm_metrics_serve(DmLauncher *l, DmServer *server, DmClient *client,
                      SoupServerMessage *msg);

#endif /* DM_LAUNCHER_METRICS_H */
