/*
 * dm-remote logging.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

DmLogLevel dm_log_level = DM_LOG_INFO;

void dm_log(DmLogLevel level, const char *fmt, ...)
{
    static const char *const prefix[] = {
        [DM_LOG_ERROR] = "error: ",
        [DM_LOG_WARN] = "warning: ",
        [DM_LOG_INFO] = "",
        [DM_LOG_DEBUG] = "debug: ",
    };
    va_list ap;

    if (level > dm_log_level) {
        return;
    }
    va_start(ap, fmt);
    fprintf(stderr, "dm-remote: %s", prefix[level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int dm_usage_error(const char *command, const char *fmt, const char *what)
{
    const char *sep = command ? " " : "";

    command = command ? command : "";
    fprintf(stderr, "dm-remote%s%s: ", sep, command);
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\nTry 'dm-remote%s%s --help'.\n", sep, command);
    return 2;
}
