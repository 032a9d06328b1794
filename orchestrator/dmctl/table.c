/*
 * dmctl: aligned tables.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdbool.h>
#include <stdio.h>

#include "table.h"

char *dmctl_cell(JsonObject *o, const char *key)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;

    if (!n || JSON_NODE_HOLDS_NULL(n)) {
        return g_strdup("-");
    }
    if (JSON_NODE_HOLDS_ARRAY(n)) {
        JsonArray *a = json_node_get_array(n);
        g_autoptr(GString) s = g_string_new(NULL);
        guint i;

        for (i = 0; i < json_array_get_length(a); i++) {
            JsonObject *dummy = json_object_new();
            g_autofree char *one = NULL;

            json_object_set_member(dummy, "v", json_node_copy(
                json_array_get_element(a, i)));
            one = dmctl_cell(dummy, "v");
            json_object_unref(dummy);
            g_string_append_printf(s, "%s%s", i ? "," : "", one);
        }
        return s->len ? g_strdup(s->str) : g_strdup("-");
    }
    if (JSON_NODE_HOLDS_OBJECT(n)) {
        /* KEY=VALUE,... as it was given on the command line. */
        JsonObject *obj = json_node_get_object(n);
        g_autoptr(GList) keys = json_object_get_members(obj);
        g_autoptr(GString) s = g_string_new(NULL);

        for (GList *l = keys; l; l = l->next) {
            g_autofree char *one = dmctl_cell(obj, l->data);

            g_string_append_printf(s, "%s%s=%s", s->len ? "," : "",
                                   (const char *)l->data, one);
        }
        return s->len ? g_strdup(s->str) : g_strdup("-");
    }
    switch (json_node_get_value_type(n)) {
    case G_TYPE_STRING:
        return g_strdup(json_node_get_string(n));
    case G_TYPE_BOOLEAN:
        return g_strdup(json_node_get_boolean(n) ? "yes" : "no");
    case G_TYPE_DOUBLE:
        return g_strdup_printf("%g", json_node_get_double(n));
    default:
        return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(n));
    }
}

static void table_cell(const char *text, size_t width, bool last)
{
    if (last) {
        printf("%s\n", text);
    } else {
        printf("%-*s  ", (int)width, text);
    }
}

void dmctl_table(const DmctlColumn *cols, size_t ncols, JsonArray *rows)
{
    guint nrows = rows ? json_array_get_length(rows) : 0;
    g_autofree size_t *width = g_new0(size_t, ncols);
    g_autoptr(GPtrArray) cells = g_ptr_array_new_with_free_func(g_free);
    size_t c;
    guint r;

    for (c = 0; c < ncols; c++) {
        width[c] = strlen(cols[c].title);
    }
    for (r = 0; r < nrows; r++) {
        JsonNode *row = json_array_get_element(rows, r);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(row) ?
            json_node_get_object(row) : NULL;

        for (c = 0; c < ncols; c++) {
            char *cell = dmctl_cell(o, cols[c].key);

            width[c] = MAX(width[c], strlen(cell));
            g_ptr_array_add(cells, cell);
        }
    }
    for (c = 0; c < ncols; c++) {
        table_cell(cols[c].title, width[c], c + 1 == ncols);
    }
    for (r = 0; r < nrows; r++) {
        for (c = 0; c < ncols; c++) {
            table_cell(g_ptr_array_index(cells, r * ncols + c), width[c],
                       c + 1 == ncols);
        }
    }
}
