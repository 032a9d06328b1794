/*
 * dm-orchestrator: writing Prometheus' text format 0.0.4 (prom.c), for
 * /metrics (metrics.c, proxy-metrics.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_PROM_H
#define ORCH_PROM_H

#include <glib.h>

/* "# HELP NAME HELP" and "# TYPE NAME TYPE", once before its samples. */
void orch_prom_header(GString *out, const char *name, const char *type,
                      const char *help);
/* @v as a label value wants it: \\, \" and \n escaped. */
void orch_prom_label(GString *out, const char *v);

#endif /* ORCH_PROM_H */
