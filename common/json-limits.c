/*
 * Limits on JSON read from a peer (see json-limits.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdbool.h>

#include "json-limits.h"

int dm_json_check_depth(const char *data, size_t len, unsigned max_depth)
{
    unsigned depth = 0;
    bool in_string = false, escaped = false;
    size_t i;

    for (i = 0; i < len; i++) {
        char c = data[i];

        if (in_string) {
            /* A backslash hides the next character, a quote included. */
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        switch (c) {
        case '"':
            in_string = true;
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
