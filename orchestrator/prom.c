/*
 * dm-orchestrator: Prometheus' text format (see prom.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "prom.h"

void orch_prom_header(GString *out, const char *name, const char *type,
                      const char *help)
{
    g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
                           name, type);
}

void orch_prom_label(GString *out, const char *v)
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
