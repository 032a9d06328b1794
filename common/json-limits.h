/*
 * Limits on JSON read from a peer, checked before it reaches a parser.
 *
 * json-glib parses recursively: a document nested a few tens of thousands
 * deep (80 KB of '[') overflows the stack.  Our documents are a few levels
 * deep, so the servers refuse anything deeper than DM_JSON_MAX_DEPTH
 * before parsing.  Like a library, this never prints.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_JSON_LIMITS_H
#define DM_JSON_LIMITS_H

#include <stddef.h>

/* Objects and arrays inside each other, the outermost counting 1. */
#define DM_JSON_MAX_DEPTH 32

/*
 * 0 if no object or array in the @len bytes at @data is nested deeper
 * than @max_depth, -E2BIG otherwise.  Brackets inside strings (escapes
 * included) and comments do not count, as json-glib reads them: "double"
 * and 'single' quotes, slash-star comments; the text need not be valid
 * JSON (the parser judges that afterwards).
 */
int dm_json_check_depth(const char *data, size_t len, unsigned max_depth);

/*
 * 0 if the @len bytes at @data hold no NUL, raw or as a "\u0000" escape
 * in a double-quoted string; -EINVAL otherwise.  json-glib keeps strings
 * NUL-terminated: "vm1\u0000x" would reach us as "vm1", a name other
 * than the one sent (and checked by no one in its whole form).
 */
int dm_json_check_nul(const char *data, size_t len);

#endif /* DM_JSON_LIMITS_H */
