/*
 * dmctl: answers as aligned tables.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DMCTL_TABLE_H
#define DMCTL_TABLE_H

#include <stddef.h>
#include <json-glib/json-glib.h>

typedef struct DmctlColumn {
    const char *title;
    const char *key;            /* member of each row object */
} DmctlColumn;

/* An aligned table of @rows (objects), one column per entry. */
void dmctl_table(const DmctlColumn *cols, size_t ncols, JsonArray *rows);
/* A member as text: strings as is, null as "-", arrays joined by ','. */
char *dmctl_cell(JsonObject *o, const char *key);

#endif /* DMCTL_TABLE_H */
