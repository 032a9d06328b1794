/*
 * dm-remote logging.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

DmLogLevel dm_log_level = DM_LOG_INFO;

/*
 * @s into @out (room for 4 bytes per character and a NUL), control
 * characters and backslashes as \xNN.
 */
static size_t log_escape(char *out, const char *s)
{
    size_t n = 0;

    for (; *s; s++) {
        unsigned char c = *s;

        if (c < 0x20 || c == 0x7f || c == '\\') {
            n += sprintf(out + n, "\\x%02x", c);
        } else {
            out[n++] = c;
        }
    }
    out[n] = 0;
    return n;
}

void dm_log(DmLogLevel level, const char *fmt, ...)
{
    static const char *const prefix[] = {
        [DM_LOG_ERROR] = "error: ",
        [DM_LOG_WARN] = "warning: ",
        [DM_LOG_INFO] = "",
        [DM_LOG_DEBUG] = "debug: ",
    };
    char buf[2048];
    char line[sizeof("dm-remote: warning: ") + 4 * sizeof(buf) + 1];
    size_t n;
    va_list ap;

    if (level > dm_log_level) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);     /* longer ones are cut */
    va_end(ap);
    /* A name with a newline in it must not forge a line of its own. */
    n = snprintf(line, sizeof(line), "dm-remote: %s", prefix[level]);
    n += log_escape(line + n, buf);
    line[n++] = '\n';
    /*
     * One write for the whole line: stderr is unbuffered, and several
     * processes (models, a launcher) may log into one file.
     */
    fwrite(line, 1, n, stderr);
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

bool dm_parse_number(const char *s, long min, long max, long *ret)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < min || v > max) {
        return false;
    }
    *ret = v;
    return true;
}
