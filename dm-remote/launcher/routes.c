/*
 * Server role: the /v1/routes endpoints, over the table and its file
 * (route-list.c) and the router (router.c).  A route is checked with
 * the router's own parser before it is accepted.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "route-table.h"
#include "router.h"
#include "routes.h"

void dm_routes_init(DmServer *s)
{
    dm_route_list_init(s);
    dm_router_init(s);
}

void dm_routes_free(DmServer *s)
{
    dm_route_list_free(s);
    dm_router_free(s);
}

void dm_routes_health(DmServer *s, JsonObject *health)
{
    json_object_set_string_member(health, "router", dm_route_list_address(s));
}

unsigned dm_routes_live(DmServer *s)
{
    return s->router != NULL;
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

/*
 * The target, as the router will parse its line.  Spaces and control
 * characters could not survive a line of the file, nor ",vm=" its syntax.
 */
static int routes_check_target(SoupServerMessage *msg, DmRouteEntry *e)
{
    g_autofree char *line = dm_route_line(e);
    char err[384];
    DmRoute r;

    if (dm_route_target_bad_char(e->target)) {
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
    e = dm_route_entry_new(id, dm, vm, target);
    if (routes_check_target(msg, e) < 0) {
        dm_route_entry_free(e);
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
        dm_route_entry_free(e);
        return;
    }
    if (strcmp(e->target, s->router->address) == 0) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "bad target '%s': the "
                      "router itself", e->target);
        dm_route_entry_free(e);
        goto undo_router;
    }
    g_ptr_array_add(s->routes, e);
    if (dm_route_list_save(s, &err) < 0) {
        dm_error("route %s: %s", e->id, err);
        dm_http_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "%s", err);
        g_ptr_array_remove(s->routes, e);
        goto undo_router;
    }
    if (fresh && dm_router_launch(s, &err) < 0) {
        dm_error("route %s: %s", e->id, err);
        dm_http_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "%s", err);
        dm_route_list_drop(s, e);
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
    } else if (dm_route_list_find(s, e->id) >= 0) {
        dm_http_error(msg, SOUP_STATUS_CONFLICT, "route '%s' already exists",
                      e->id);
    } else if ((other = dm_route_list_same_pair(s, e)) != NULL) {
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
    dm_route_entry_free(e);
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
    json_object_set_string_member(o, "address", dm_route_list_address(s));
    json_object_set_member(o, "router", dm_router_json(s));
    dm_http_reply_object(msg, SOUP_STATUS_OK, o);
}

/* 200 with the route once the file no longer has it. */
static void routes_delete(DmServer *s, SoupServerMessage *msg, guint index)
{
    DmRouteEntry *e = g_ptr_array_steal_index(s->routes, index);
    g_autofree char *err = NULL;

    if (dm_route_list_save(s, &err) < 0) {
        dm_error("route %s: %s", e->id, err);
        dm_http_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "%s", err);
        g_ptr_array_insert(s->routes, index, e);
        return;
    }
    dm_info("route %s: deleted", e->id);
    dm_router_cancel(s, e);
    dm_http_reply_object(msg, SOUP_STATUS_OK, dm_route_json(s, e));
    dm_route_entry_free(e);
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
    index = dm_route_list_find(s, id);
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
    g_autofree char *path = dm_route_list_file(s);

    dm_router_stop(s);
    unlink(path);
}
