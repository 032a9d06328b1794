/*
 * Server role: the owner server's routes and the routes file.
 *
 * The table (s->routes, in the order added) is written whole to
 * STATE/routes after each change, through a temporary file and a rename
 * so that the router, which reads it for every new session, sees either
 * the old table or the new one.  Each route is a line in the router's
 * --route syntax, checked with the router's own parser before it is
 * accepted.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "record.h"
#include "route-list.h"
#include "route-table.h"

DmRouteEntry *dm_route_entry_new(const char *id, const char *device_model,
                                 const char *vm, const char *target)
{
    DmRouteEntry *e = g_new0(DmRouteEntry, 1);

    e->id = g_strdup(id);
    e->device_model = g_strdup(device_model);
    e->vm = g_strdup(vm);
    e->target = g_strdup(target);
    return e;
}

void dm_route_entry_free(DmRouteEntry *e)
{
    g_free(e->id);
    g_free(e->device_model);
    g_free(e->vm);
    g_free(e->target);
    g_free(e);
}

char *dm_route_line(const DmRouteEntry *e)
{
    return g_strdup_printf("%s=%s%s%s", e->device_model, e->target,
                           e->vm ? ",vm=" : "", e->vm ? e->vm : "");
}

bool dm_route_target_bad_char(const char *target)
{
    for (const char *p = target; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            return true;
        }
    }
    return false;
}

void dm_route_list_init(DmServer *s)
{
    s->routes = g_ptr_array_new_with_free_func(
        (GDestroyNotify)dm_route_entry_free);
}

void dm_route_list_free(DmServer *s)
{
    g_clear_pointer(&s->routes, g_ptr_array_unref);
}

char *dm_route_list_file(DmServer *s)
{
    return g_build_filename(s->l->state_dir, "routes", NULL);
}

const char *dm_route_list_address(DmServer *s)
{
    return s->router ? s->router->address : NULL;
}

JsonObject *dm_route_json(DmServer *s, const DmRouteEntry *e)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "id", e->id);
    json_object_set_string_member(o, "device_model", e->device_model);
    json_object_set_string_member(o, "vm", e->vm);
    json_object_set_string_member(o, "target", e->target);
    json_object_set_string_member(o, "address", dm_route_list_address(s));
    return o;
}

int dm_route_list_find(DmServer *s, const char *id)
{
    for (guint i = 0; i < s->routes->len; i++) {
        DmRouteEntry *e = g_ptr_array_index(s->routes, i);

        if (strcmp(e->id, id) == 0) {
            return i;
        }
    }
    return -1;
}

DmRouteEntry *dm_route_list_same_pair(DmServer *s, const DmRouteEntry *e)
{
    for (guint i = 0; i < s->routes->len; i++) {
        DmRouteEntry *o = g_ptr_array_index(s->routes, i);

        if (strcmp(o->device_model, e->device_model) == 0 &&
            g_strcmp0(o->vm, e->vm) == 0) {
            return o;
        }
    }
    return NULL;
}

/* STATE/routes from the table, atomically (temporary file + rename). */
static int route_list_write(DmServer *s, char **ret_err)
{
    g_autoptr(GString) text = g_string_new(
        "# Written by dm-remote daemon for its router; one route a line.\n");
    g_autoptr(GError) error = NULL;
    g_autofree char *path = dm_route_list_file(s);

    for (guint i = 0; i < s->routes->len; i++) {
        DmRouteEntry *e = g_ptr_array_index(s->routes, i);
        g_autofree char *line = dm_route_line(e);

        g_string_append_printf(text, "# %s\n%s\n", e->id, line);
    }
    if (!g_file_set_contents_full(path, text->str, text->len,
                                  G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                  &error)) {
        *ret_err = g_strdup_printf("cannot write %s: %s", path,
                                   error->message);
        return -EIO;
    }
    return 0;
}

int dm_route_list_save(DmServer *s, char **ret_err)
{
    int ret = route_list_write(s, ret_err);

    if (ret == 0 && s->router) {
        dm_instance_write_record(s->router);
    }
    return ret;
}

void dm_route_list_drop(DmServer *s, DmRouteEntry *e)
{
    g_autofree char *err = NULL;

    g_ptr_array_remove(s->routes, e);
    if (dm_route_list_save(s, &err) < 0) {
        dm_error("routes: %s", err);
    }
}

void dm_route_list_restore(DmServer *s, JsonArray *arr)
{
    g_autofree char *err = NULL;
    guint i, len = json_array_get_length(arr);

    for (i = 0; i < len && s->routes->len < DM_ROUTES_MAX; i++) {
        JsonNode *n = json_array_get_element(arr, i);
        JsonObject *o;
        const char *id, *dm, *vm, *target;
        g_autofree char *line = NULL;
        DmRouteEntry *e;
        char why[384];
        DmRoute r;

        if (!JSON_NODE_HOLDS_OBJECT(n)) {
            continue;
        }
        o = json_node_get_object(n);
        id = dm_record_string(o, "id");
        dm = dm_record_string(o, "device_model");
        vm = dm_record_string(o, "vm");
        target = dm_record_string(o, "target");
        if (!id || !vup_name_valid(id) || !dm || !vup_name_valid(dm) ||
            (vm && !vup_name_valid(vm)) || !target ||
            dm_route_list_find(s, id) >= 0) {
            continue;
        }
        e = dm_route_entry_new(id, dm, vm, target);
        line = dm_route_line(e);
        if (dm_route_target_bad_char(target) || strstr(target, ",vm=") ||
            dm_route_list_same_pair(s, e) ||
            dm_route_parse(line, &r, why, sizeof(why)) < 0) {
            dm_route_entry_free(e);
            continue;
        }
        g_ptr_array_add(s->routes, e);
    }
    if (s->routes->len && route_list_write(s, &err) < 0) {
        dm_error("routes: %s", err);
    }
}
