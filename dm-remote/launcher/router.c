/*
 * Server role: the owner server's router, `dm-remote route --listen
 * tcp:MODEL_HOST:PORT --routes-file STATE/routes -q`.
 *
 * It is an internal instance: instance.c launches it, probes it, logs
 * its death and relaunches it (whatever the exit) on the same address;
 * it is not in the API's table of instances and has no capacity slot.
 * It is created with the first route and lives until the daemon stops:
 * clients keep its address across route changes.
 *
 * A POST of a route answers once the route is in the file (the router
 * reads it for every new session) and the router accepts connections;
 * the POSTs that must wait for a starting or restarting router queue up
 * in s->route_waiting.  All of it runs in the daemon's main loop.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <string.h>

#include "http.h"
#include "instance.h"
#include "instances.h"
#include "log.h"
#include "record.h"
#include "router.h"

#define DM_ROUTER_WAIT_MS 10000
#define DM_ROUTER_LOG_TAIL 1024

typedef struct RouterWait {
    DmServer *s;
    SoupServerMessage *msg;
    DmRouteEntry *entry;
    guint timer;
} RouterWait;

void dm_router_init(DmServer *s)
{
    s->route_waiting = g_queue_new();
}

void dm_router_free(DmServer *s)
{
    g_clear_pointer(&s->route_waiting, g_queue_free);
}

/*
 * Answer and forget one waiting POST.  With @drop, its route goes: a
 * route whose router never came up was not added.
 */
static void router_wait_done(RouterWait *w, guint status, const char *why,
                             bool drop)
{
    DmServer *s = w->s;

    g_queue_remove(s->route_waiting, w);
    if (w->timer) {
        g_source_remove(w->timer);
    }
    if (status == SOUP_STATUS_CREATED) {
        dm_http_reply_object(w->msg, status, dm_route_json(s, w->entry));
    } else {
        dm_http_error(w->msg, status, "%s", why);
        if (drop) {
            dm_route_list_drop(s, w->entry);
        }
    }
    dm_http_resume(w->msg);
    g_free(w);
}

static void router_fail_all(DmServer *s, guint status, const char *why,
                            bool drop)
{
    RouterWait *w;

    while ((w = g_queue_peek_head(s->route_waiting)) != NULL) {
        router_wait_done(w, status, why, drop);
    }
}

static void router_watch(DmInstance *inst, bool gone, void *opaque)
{
    DmServer *s = opaque;
    g_autofree char *tail = NULL;
    g_autofree char *why = NULL;
    RouterWait *w;

    if (gone) {
        s->router = NULL;
    } else if (inst->state == DM_INST_RUNNING) {
        while ((w = g_queue_peek_head(s->route_waiting)) != NULL) {
            router_wait_done(w, SOUP_STATUS_CREATED, NULL, false);
        }
        return;
    } else if (inst->state != DM_INST_EXITED) {
        return;                 /* restarting: the waiting ones wait on */
    }
    if (g_queue_is_empty(s->route_waiting)) {
        return;
    }
    tail = dm_proc_log_tail(inst->child.log_path, DM_ROUTER_LOG_TAIL);
    why = g_strdup_printf("the router at %s %s; its log ends: %s",
                          inst->address, gone ? "failed to start" :
                          "exited", tail);
    router_fail_all(s, SOUP_STATUS_INTERNAL_SERVER_ERROR, why, true);
}

static gboolean router_wait_timeout(gpointer opaque)
{
    RouterWait *w = opaque;
    g_autofree char *why = NULL;

    w->timer = 0;
    why = g_strdup_printf("the router did not accept connections at %s "
                          "within %d s", w->s->router->address,
                          DM_ROUTER_WAIT_MS / 1000);
    dm_error("route %s: %s", w->entry->id, why);
    router_wait_done(w, SOUP_STATUS_INTERNAL_SERVER_ERROR, why, true);
    return G_SOURCE_REMOVE;
}

/* The table, for the router's record: a crashed launcher's next adopts it. */
static void router_record(DmInstance *inst, JsonObject *rec)
{
    DmServer *s = inst->s;
    JsonArray *arr = json_array_new();

    for (guint i = 0; i < s->routes->len; i++) {
        json_array_add_object_element(
            arr, dm_route_json(s, g_ptr_array_index(s->routes, i)));
    }
    json_object_set_array_member(rec, "routes", arr);
}

/* A router (not launched) on @port, as s->router. */
static DmInstance *router_new(DmServer *s, unsigned port)
{
    g_autofree char *listen = NULL;
    g_autofree char *file_opt = NULL;
    g_autofree char *file = dm_route_list_file(s);
    bool v6 = strchr(s->model_host, ':') != NULL;
    char *args[5];
    DmInstance *inst;

    listen = g_strdup_printf(v6 ? "--listen=tcp:[%s]:%u" :
                             "--listen=tcp:%s:%u", s->model_host, port);
    file_opt = g_strconcat("--routes-file=", file, NULL);
    args[0] = "route";
    args[1] = listen;
    args[2] = file_opt;
    args[3] = "-q";
    args[4] = NULL;
    inst = dm_instance_new_internal(s, "router", "router", args,
                                    router_watch, s);
    inst->record_extra = router_record;
    inst->tcp = true;
    inst->port = port;
    inst->address = g_strdup(listen + strlen("--listen="));
    inst->restart_always = true;
    s->router = inst;
    return inst;
}

int dm_router_create(DmServer *s, char **ret_err)
{
    unsigned port;

    if (dm_instances_pick_port(s, &port) < 0) {
        *ret_err = g_strdup_printf("no free port in %u-%u", s->port_lo,
                                   s->port_hi);
        return -EADDRINUSE;
    }
    router_new(s, port);
    return 0;
}

void dm_router_adopt(DmServer *s)
{
    g_autofree char *dir = dm_child_dir(s->l, "router", NULL);
    g_autofree char *err = NULL;
    g_autoptr(JsonObject) rec = NULL;
    JsonNode *routes;
    guint64 start;
    unsigned port;
    pid_t pid;

    rec = dm_record_read(dir, "router", "router", &pid, &start);
    if (!rec) {
        dm_record_remove(dir);
        return;
    }
    routes = json_object_get_member(rec, "routes");
    port = dm_record_int(rec, "port", s->port_lo, s->port_hi, 0);
    if (!port || !routes || !JSON_NODE_HOLDS_ARRAY(routes)) {
        dm_warn("router: a bad record, leaving pid %d alone", (int)pid);
        dm_record_remove(dir);
        return;
    }
    dm_route_list_restore(s, json_node_get_array(routes));
    if (s->routes->len == 0) {
        dm_record_remove(dir);
        return;
    }
    if (dm_instance_adopt(router_new(s, port), rec, pid, start) == 0) {
        return;
    }
    /* Its clients have its address: a new one on the same port. */
    s->router = NULL;
    router_new(s, port);
    if (dm_router_launch(s, &err) < 0) {
        dm_error("router: %s", err);
    }
}

void dm_router_discard(DmServer *s)
{
    g_clear_pointer(&s->router, dm_instance_free);
}

int dm_router_launch(DmServer *s, char **ret_err)
{
    int ret = dm_instance_launch(s->router, NULL, ret_err);

    if (ret < 0) {
        s->router = NULL;       /* freed by dm_instance_launch() */
        return ret;
    }
    dm_info("router starting at %s", s->router->address);
    return 0;
}

void dm_router_answer(DmServer *s, SoupServerMessage *msg, DmRouteEntry *e)
{
    g_autofree char *err = NULL;
    RouterWait *w;

    if (s->router->state == DM_INST_RUNNING) {
        dm_http_reply_object(msg, SOUP_STATUS_CREATED, dm_route_json(s, e));
        return;
    }
    /* Its restarts used up earlier: a new route deserves a new try. */
    if (s->router->state == DM_INST_EXITED &&
        dm_instance_respawn(s->router, &err) < 0) {
        dm_error("router: %s", err);
        dm_http_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "%s", err);
        dm_route_list_drop(s, e);
        return;
    }
    w = g_new0(RouterWait, 1);
    w->s = s;
    w->msg = msg;
    w->entry = e;
    w->timer = g_timeout_add(DM_ROUTER_WAIT_MS, router_wait_timeout, w);
    g_queue_push_tail(s->route_waiting, w);
    dm_http_defer(msg);
}

void dm_router_cancel(DmServer *s, DmRouteEntry *e)
{
    GList *l;

    for (l = s->route_waiting->head; l; l = l->next) {
        RouterWait *w = l->data;

        if (w->entry == e) {
            router_wait_done(w, SOUP_STATUS_CONFLICT, "route deleted while "
                             "the router was starting", false);
            return;
        }
    }
}

void dm_router_stop(DmServer *s)
{
    router_fail_all(s, SOUP_STATUS_SERVICE_UNAVAILABLE,
                    "the daemon is shutting down", false);
    if (s->router && !s->router->child.forgotten) {
        dm_info("router at %s: stopping", s->router->address);
        dm_instance_stop(s->router, NULL);
    }
}

JsonNode *dm_router_json(DmServer *s)
{
    JsonObject *o;

    if (!s->router) {
        return json_node_new(JSON_NODE_NULL);
    }
    o = dm_instance_json(s->router);
    /* An instance's members that mean nothing for the router. */
    json_object_remove_member(o, "model");
    json_object_remove_member(o, "console");
    json_object_remove_member(o, "bind");
    return json_node_init_object(json_node_alloc(), o);
}
