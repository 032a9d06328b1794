/*
 * Limits on JSON read from a peer (see json-limits.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "json-limits.h"

int dm_json_check_depth(const char *data, size_t len, unsigned max_depth)
{
    unsigned depth = 0;
    /*
     * What json-glib's scanner skips must be skipped here too, or a quote
     * in it would hide the nesting after it: "strings" with backslash
     * escapes, 'strings' without, and comments.
     */
    char quote = 0;
    bool escaped = false, comment = false;
    size_t i;

    for (i = 0; i < len; i++) {
        char c = data[i];

        if (comment) {
            if (c == '*' && i + 1 < len && data[i + 1] == '/') {
                comment = false;
                i++;
            }
            continue;
        }
        if (quote) {
            /* A backslash hides the next character, a quote included. */
            if (escaped) {
                escaped = false;
            } else if (c == '\\' && quote == '"') {
                escaped = true;
            } else if (c == quote) {
                quote = 0;
            }
            continue;
        }
        switch (c) {
        case '"':
        case '\'':
            quote = c;
            break;
        case '/':
            if (i + 1 < len && data[i + 1] == '*') {
                comment = true;
                i++;
            }
            break;
        case '[':
        case '{':
            if (++depth > max_depth) {
                return -E2BIG;
            }
            break;
        case ']':
        case '}':
            /* Unbalanced closers are the parser's to refuse. */
            if (depth) {
                depth--;
            }
            break;
        }
    }
    return 0;
}

int dm_json_check_nul(const char *data, size_t len)
{
    size_t i = 0;

    /*
     * Wherever it is: outside a string a backslash is the parser's to
     * refuse, and refusing one in a comment costs nothing.  Tracking
     * strings here would have to follow comments and 'quotes' exactly as
     * json-glib does (see above); a run of backslashes needs no context.
     */
    while (i < len) {
        size_t run = 0;

        if (data[i] == '\0') {
            return -EINVAL;
        }
        if (data[i] != '\\') {
            i++;
            continue;
        }
        while (i < len && data[i] == '\\') {
            run++;
            i++;
        }
        /* An odd run escapes what follows. */
        if (run % 2 && len - i >= 5 && (data[i] == 'u' || data[i] == 'U') &&
            !memcmp(data + i + 1, "0000", 4)) {
            return -EINVAL;
        }
    }
    return 0;
}
