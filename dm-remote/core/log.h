/*
 * dm-remote logging: one line per event on stderr, prefixed with the
 * program name.  Peer-controlled text is never used as a format.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_LOG_H
#define DM_LOG_H

#include <stdbool.h>

typedef enum DmLogLevel {
    DM_LOG_ERROR,
    DM_LOG_WARN,
    DM_LOG_INFO,
    DM_LOG_DEBUG,
} DmLogLevel;

extern DmLogLevel dm_log_level;

/*
 * One line, whatever the message holds: control characters and
 * backslashes in it are written as \xNN (a peer's name with a newline
 * cannot forge a line of its own); cut at 2 KiB.
 */
void dm_log(DmLogLevel level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * A bad command line: "dm-remote[ COMMAND]: " + @fmt with @what, then
 * where to find the help.  Returns 2, the exit status for usage errors.
 */
int dm_usage_error(const char *command, const char *fmt, const char *what);
/* Is @s, the whole of it, a decimal number in [@min, @max]?  In @ret. */
bool dm_parse_number(const char *s, long min, long max, long *ret);

#define dm_error(...) dm_log(DM_LOG_ERROR, __VA_ARGS__)
#define dm_warn(...)  dm_log(DM_LOG_WARN, __VA_ARGS__)
#define dm_info(...)  dm_log(DM_LOG_INFO, __VA_ARGS__)
#define dm_debug(...) dm_log(DM_LOG_DEBUG, __VA_ARGS__)

#endif /* DM_LOG_H */
