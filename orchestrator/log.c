/*
 * dm-orchestrator: one log line per event, on stderr.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

int orch_log_level = 1;

void orch_log(int level, const char *fmt, ...)
{
    va_list ap;

    if (level > orch_log_level) {
        return;
    }
    va_start(ap, fmt);
    fputs("dm-orchestrator: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
