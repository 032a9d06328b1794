/*
 * The launcher's records of its children.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json-limits.h"
#include "log.h"
#include "record.h"

char *dm_child_dir(const DmLauncher *l, const char *sub, const char *id)
{
    return g_build_filename(l->state_dir, sub, id, NULL);
}

int dm_dir_make_private(const char *dir, char **ret_err)
{
    int ret;

    if (g_mkdir_with_parents(dir, 0700) < 0 || chmod(dir, 0700) < 0) {
        ret = -errno;
        *ret_err = g_strdup_printf("cannot create %s: %s", dir,
                                   g_strerror(errno));
        return ret;
    }
    return 0;
}

int dm_record_write(const char *dir, const char *kind, const char *id,
                    const DmProc *p, JsonObject *o, char **ret_err)
{
    g_autofree char *path = g_build_filename(dir, "record", NULL);
    g_autoptr(JsonNode) node = json_node_alloc();
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;

    json_object_set_string_member(o, "kind", kind);
    json_object_set_string_member(o, "id", id);
    json_object_set_int_member(o, "pid", p->pid);
    json_object_set_int_member(o, "start", p->start_time);
    json_node_init_object(node, o);
    json_object_unref(o);
    text = json_to_string(node, false);
    if (!g_file_set_contents_full(path, text, -1,
                                  G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                  &error)) {
        *ret_err = g_strdup_printf("cannot write %s: %s", path,
                                   error->message);
        return -EIO;
    }
    return 0;
}

void dm_record_remove(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, "record", NULL);

    unlink(path);
}

const char *dm_record_string(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);

    if (!n || !JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_STRING) {
        return NULL;
    }
    return json_node_get_string(n);
}

bool dm_record_bool(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);

    return n && JSON_NODE_HOLDS_VALUE(n) &&
           json_node_get_value_type(n) == G_TYPE_BOOLEAN &&
           json_node_get_boolean(n);
}

gint64 dm_record_int(JsonObject *o, const char *name, gint64 lo,
                     gint64 hi, gint64 dflt)
{
    JsonNode *n = json_object_get_member(o, name);
    gint64 v;

    if (!n || !JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_INT64) {
        return dflt;
    }
    v = json_node_get_int(n);
    return v < lo || v > hi ? dflt : v;
}

JsonObject *dm_record_read(const char *dir, const char *kind,
                           const char *id, pid_t *ret_pid,
                           guint64 *ret_start)
{
    g_autofree char *path = g_build_filename(dir, "record", NULL);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    gsize len;
    JsonNode *root;
    JsonObject *o;
    gint64 pid, start;

    if (!g_file_get_contents(path, &text, &len, &error)) {
        return NULL;
    }
    if (len > DM_RECORD_MAX ||
        dm_json_check_depth(text, len, DM_JSON_MAX_DEPTH) < 0 ||
        !json_parser_load_from_data(parser, text, len, NULL) ||
        !(root = json_parser_get_root(parser)) ||
        !JSON_NODE_HOLDS_OBJECT(root)) {
        dm_warn("%s: not a record, ignoring", path);
        return NULL;
    }
    o = json_node_get_object(root);
    pid = dm_record_int(o, "pid", 1, G_MAXINT32, 0);
    start = dm_record_int(o, "start", 1, G_MAXINT64, 0);
    if (g_strcmp0(dm_record_string(o, "kind"), kind) != 0 ||
        g_strcmp0(dm_record_string(o, "id"), id) != 0 || !pid || !start) {
        dm_warn("%s: not a record of %s %s, ignoring", path, kind, id);
        return NULL;
    }
    *ret_pid = pid;
    *ret_start = start;
    return json_object_ref(o);
}

void dm_records_scan(const DmLauncher *l, const char *sub, const char *kind,
                     DmRecordFn *fn, void *opaque)
{
    g_autofree char *top = dm_child_dir(l, sub, NULL);
    g_autoptr(GDir) gd = g_dir_open(top, 0, NULL);
    const char *id;

    while (gd && (id = g_dir_read_name(gd)) != NULL) {
        g_autofree char *dir = g_build_filename(top, id, NULL);
        g_autoptr(JsonObject) rec = NULL;
        guint64 start;
        pid_t pid;

        if (!vup_name_valid(id)) {
            continue;
        }
        rec = dm_record_read(dir, kind, id, &pid, &start);
        if (!rec) {
            dm_record_remove(dir);
            continue;
        }
        fn(opaque, id, dir, rec, pid, start);
    }
}
