/*
 * Server role: the /v1/routes endpoints and the routes file.
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
#include <unistd.h>

#include "http.h"
#include "instance.h"
#include "log.h"
#include "record.h"
#include "route-table.h"
#include "router.h"
#include "routes.h"

#define DM_ROUTES_MAX 1024

static void routes_entry_free(DmRouteEntry *e)
{
    g_free(e->id);
    g_free(e->device_model);
    g_free(e->vm);
    g_free(e->target);
    g_free(e);
}

void dm_routes_init(DmServer *s)
{
    s->routes = g_ptr_array_new_with_free_func(
        (GDestroyNotify)routes_entry_free);
    s->route_waiting = g_queue_new();
}

void dm_routes_free(DmServer *s)
{
    g_clear_pointer(&s->routes, g_ptr_array_unref);
    g_clear_pointer(&s->route_waiting, g_queue_free);
}

char *dm_routes_file(DmServer *s)
{
    return g_build_filename(s->l->state_dir, "routes", NULL);
}

static const char *routes_address(DmServer *s)
{
    return s->router ? s->router->address : NULL;
}

void dm_routes_health(DmServer *s, JsonObject *health)
{
    json_object_set_string_member(health, "router", routes_address(s));
}

unsigned dm_routes_live(DmServer *s)
{
    return s->router != NULL;
}

JsonObject *dm_route_json(DmServer *s, const DmRouteEntry *e)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "id", e->id);
    json_object_set_string_member(o, "device_model", e->device_model);
    json_object_set_string_member(o, "vm", e->vm);
    json_object_set_string_member(o, "target", e->target);
    json_object_set_string_member(o, "address", routes_address(s));
    return o;
}

static int routes_index(DmServer *s, const char *id)
{
    for (guint i = 0; i < s->routes->len; i++) {
        DmRouteEntry *e = g_ptr_array_index(s->routes, i);

        if (strcmp(e->id, id) == 0) {
            return i;
        }
    }
    return -1;
}

/* The route that already takes sessions of @e's (device model, vm). */
static DmRouteEntry *routes_same_pair(DmServer *s, const DmRouteEntry *e)
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

static char *routes_line(const DmRouteEntry *e)
{
    return g_strdup_printf("%s=%s%s%s", e->device_model, e->target,
                           e->vm ? ",vm=" : "", e->vm ? e->vm : "");
}

/* STATE/routes from the table, atomically (temporary file + rename). */
static int routes_write(DmServer *s, char **ret_err)
{
    g_autoptr(GString) text = g_string_new(
        "# Written by dm-remote daemon for its router; one route a line.\n");
    g_autoptr(GError) error = NULL;
    g_autofree char *path = dm_routes_file(s);

    for (guint i = 0; i < s->routes->len; i++) {
        DmRouteEntry *e = g_ptr_array_index(s->routes, i);
        g_autofree char *line = routes_line(e);

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

/* The table changed: the file, and the router's record. */
static int routes_save(DmServer *s, char **ret_err)
{
    int ret = routes_write(s, ret_err);

    if (ret == 0 && s->router) {
        dm_instance_write_record(s->router);
    }
    return ret;
}

void dm_routes_drop(DmServer *s, DmRouteEntry *e)
{
    g_autofree char *err = NULL;

    g_ptr_array_remove(s->routes, e);
    if (routes_save(s, &err) < 0) {
        dm_error("routes: %s", err);
    }
}

/* An optional id member: 400 unless absent/null or a valid id. */
static int routes_member_id(SoupServerMessage *msg, JsonObject *req,
                            const char *name, const char **ret_id)
{
    if (dm_http_member_string(msg, req, name, ret_id) < 0) {
        return -EINVAL;
    }
    if (*ret_id && !vup_name_valid(*ret_id)) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "bad %s '%s' (1 to %d "
                      "characters of A-Z a-z 0-9 . _ -)", name, *ret_id,
                      VUP_NAME_MAX);
        return -EINVAL;
    }
    return 0;
}

/* Spaces and control characters cannot survive a line of the file. */
static bool routes_target_bad_char(const char *target)
{
    for (const char *p = target; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            return true;
        }
    }
    return false;
}

/*
 * The target, as the router will parse its line.  Spaces and control
 * characters could not survive a line of the file, nor ",vm=" its syntax.
 */
static int routes_check_target(SoupServerMessage *msg, DmRouteEntry *e)
{
    g_autofree char *line = routes_line(e);
    char err[384];
    DmRoute r;

    if (routes_target_bad_char(e->target)) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "bad target: no "
                      "spaces or control characters");
        return -EINVAL;
    }
    if (strstr(e->target, ",vm=") ||
        dm_route_parse(line, &r, err, sizeof(err)) < 0) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "bad target '%s': %s",
                      e->target, strstr(e->target, ",vm=") ?
                      "',vm=' in it" : err);
        return -EINVAL;
    }
    return 0;
}

/* A POST body into a new route; on failure the reply is set. */
static int routes_parse(SoupServerMessage *msg, JsonObject *req,
                        DmRouteEntry **ret_e)
{
    const char *id, *dm, *vm, *target;
    DmRouteEntry *e;

    if (routes_member_id(msg, req, "id", &id) < 0 ||
        routes_member_id(msg, req, "device_model", &dm) < 0 ||
        routes_member_id(msg, req, "vm", &vm) < 0 ||
        dm_http_member_string(msg, req, "target", &target) < 0) {
        return -EINVAL;
    }
    if (!id || !dm || !target) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "missing '%s'",
                      !id ? "id" : !dm ? "device_model" : "target");
        return -EINVAL;
    }
    e = g_new0(DmRouteEntry, 1);
    e->id = g_strdup(id);
    e->device_model = g_strdup(dm);
    e->vm = g_strdup(vm);
    e->target = g_strdup(target);
    if (routes_check_target(msg, e) < 0) {
        routes_entry_free(e);
        return -EINVAL;
    }
    *ret_e = e;
    return 0;
}

/*
 * Into the table and the file, the router started if need be; @e is
 * taken.  @msg is answered now or once the router accepts connections.
 */
static void routes_add(DmServer *s, SoupServerMessage *msg, DmRouteEntry *e)
{
    g_autofree char *err = NULL;
    bool fresh = !s->router;

    if (fresh && dm_router_create(s, &err) < 0) {
        dm_http_error(msg, SOUP_STATUS_CONFLICT, "%s", err);
        routes_entry_free(e);
        return;
    }
    if (strcmp(e->target, s->router->address) == 0) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "bad target '%s': the "
                      "router itself", e->target);
        routes_entry_free(e);
        goto undo_router;
    }
    g_ptr_array_add(s->routes, e);
    if (routes_save(s, &err) < 0) {
        dm_error("route %s: %s", e->id, err);
        dm_http_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "%s", err);
        g_ptr_array_remove(s->routes, e);
        goto undo_router;
    }
    if (fresh && dm_router_launch(s, &err) < 0) {
        dm_error("route %s: %s", e->id, err);
        dm_http_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "%s", err);
        dm_routes_drop(s, e);
        return;
    }
    dm_info("route %s: device model %s%s%s -> %s", e->id, e->device_model,
            e->vm ? " of vm " : "", e->vm ? e->vm : "", e->target);
    dm_router_answer(s, msg, e);
    return;

undo_router:
    if (fresh) {
        dm_router_discard(s);
    }
}

static void routes_create(DmServer *s, SoupServerMessage *msg)
{
    g_autoptr(JsonObject) req = NULL;
    DmRouteEntry *e, *other;

    if (dm_http_body_object(msg, &req) < 0 ||
        routes_parse(msg, req, &e) < 0) {
        return;
    }
    if (s->l->stopping) {
        dm_http_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
                      "the daemon is shutting down");
    } else if (routes_index(s, e->id) >= 0) {
        dm_http_error(msg, SOUP_STATUS_CONFLICT, "route '%s' already exists",
                      e->id);
    } else if ((other = routes_same_pair(s, e)) != NULL) {
        dm_http_error(msg, SOUP_STATUS_CONFLICT, "device model '%s' of %s%s"
                      "%s is already routed by '%s'", e->device_model,
                      e->vm ? "vm '" : "any vm", e->vm ? e->vm : "",
                      e->vm ? "'" : "", other->id);
    } else if (s->routes->len >= DM_ROUTES_MAX) {
        dm_http_error(msg, SOUP_STATUS_CONFLICT, "too many routes (%d)",
                      DM_ROUTES_MAX);
    } else {
        routes_add(s, msg, e);
        return;
    }
    routes_entry_free(e);
}

static void routes_list(DmServer *s, SoupServerMessage *msg)
{
    JsonArray *arr = json_array_new();
    JsonObject *o = json_object_new();

    for (guint i = 0; i < s->routes->len; i++) {
        json_array_add_object_element(
            arr, dm_route_json(s, g_ptr_array_index(s->routes, i)));
    }
    json_object_set_array_member(o, "routes", arr);
    json_object_set_string_member(o, "address", routes_address(s));
    json_object_set_member(o, "router", dm_router_json(s));
    dm_http_reply_object(msg, SOUP_STATUS_OK, o);
}

/* 200 with the route once the file no longer has it. */
static void routes_delete(DmServer *s, SoupServerMessage *msg, guint index)
{
    DmRouteEntry *e = g_ptr_array_steal_index(s->routes, index);
    g_autofree char *err = NULL;

    if (routes_save(s, &err) < 0) {
        dm_error("route %s: %s", e->id, err);
        dm_http_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "%s", err);
        g_ptr_array_insert(s->routes, index, e);
        return;
    }
    dm_info("route %s: deleted", e->id);
    dm_router_cancel(s, e);
    dm_http_reply_object(msg, SOUP_STATUS_OK, dm_route_json(s, e));
    routes_entry_free(e);
}

void dm_routes_handle(DmServer *s, SoupServerMessage *msg, const char *id)
{
    const char *method = soup_server_message_get_method(msg);
    int index;

    if (!id) {
        if (strcmp(method, "POST") == 0) {
            routes_create(s, msg);
        } else if (strcmp(method, "GET") == 0) {
            routes_list(s, msg);
        } else {
            dm_http_not_allowed(msg, "GET, POST");
        }
        return;
    }
    index = routes_index(s, id);
    if (strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0) {
        dm_http_not_allowed(msg, "GET, DELETE");
    } else if (index < 0) {
        dm_http_error(msg, SOUP_STATUS_NOT_FOUND, "no route '%s'", id);
    } else if (strcmp(method, "GET") == 0) {
        dm_http_reply_object(msg, SOUP_STATUS_OK,
                             dm_route_json(s, g_ptr_array_index(s->routes,
                                                                index)));
    } else {
        routes_delete(s, msg, index);
    }
}

void dm_routes_stop_all(DmServer *s)
{
    g_autofree char *path = dm_routes_file(s);

    dm_router_stop(s);
    unlink(path);
}

void dm_routes_restore(DmServer *s, JsonArray *arr)
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
            routes_index(s, id) >= 0) {
            continue;
        }
        e = g_new0(DmRouteEntry, 1);
        e->id = g_strdup(id);
        e->device_model = g_strdup(dm);
        e->vm = g_strdup(vm);
        e->target = g_strdup(target);
        line = routes_line(e);
        if (routes_target_bad_char(target) || strstr(target, ",vm=") ||
            routes_same_pair(s, e) ||
            dm_route_parse(line, &r, why, sizeof(why)) < 0) {
            routes_entry_free(e);
            continue;
        }
        g_ptr_array_add(s->routes, e);
    }
    if (s->routes->len && routes_write(s, &err) < 0) {
        dm_error("routes: %s", err);
    }
}
