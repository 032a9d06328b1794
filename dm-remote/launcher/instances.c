/*
 * Server role: the /v1/instances endpoints.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "vup/caps.h"

#include "http.h"
#include "instance.h"
#include "instances.h"
#include "model-props.h"
#include "log.h"
#include "model.h"
#include "pairing.h"
#include "record.h"
#include "tap.h"

#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

void dm_instances_init(DmServer *s)
{
    s->instances = g_hash_table_new(g_str_hash, g_str_equal);
    s->pick_port = dm_instances_pick_port;
}

void dm_instances_free(DmServer *s)
{
    g_clear_pointer(&s->instances, g_hash_table_destroy);
    g_clear_pointer(&s->images_dir, g_free);
    g_clear_pointer(&s->bridges, g_strfreev);
}

/*
 * A model as the orchestrator learns it: its name, its bus in the
 * guest (a vfio "platform" device sits on QEMU's ISA bus) and its
 * properties, from the model's one declaration.
 */
static JsonObject *instances_model_json(const char *name)
{
    const DmModel *m = dm_model_find(name);
    JsonObject *o = json_object_new();
    JsonArray *props = json_array_new();
    const DmProp *p;

    json_object_set_string_member(o, "name", name);
    json_object_set_string_member(o, "bus", m && m->bus == DM_BUS_PLATFORM ?
                                  "isa" : "pci");
    for (p = m ? m->props : NULL; p && p->name; p++) {
        JsonObject *po = json_object_new();

        json_object_set_string_member(po, "name", p->name);
        json_object_set_string_member(po, "type",
                                      dm_prop_type_name(p->type));
        if (p->defval) {
            json_object_set_string_member(po, "default", p->defval);
        } else {
            json_object_set_null_member(po, "default");
        }
        json_object_set_string_member(po, "help", p->help ? p->help : "");
        json_object_set_boolean_member(po, "required", p->required);
        json_array_add_object_element(props, po);
    }
    if (m && dm_model_find_prop(m, "tap")) {
        /* The launcher's own (tap.h), so the orchestrator passes it on. */
        JsonObject *po = json_object_new();

        json_object_set_string_member(po, "name", "bridge");
        json_object_set_string_member(po, "type", "string");
        json_object_set_null_member(po, "default");
        json_object_set_string_member(po, "help", "a bridge of this "
                                      "server (--bridges): the launcher "
                                      "makes a tap on it for the model");
        json_object_set_boolean_member(po, "required", false);
        json_array_add_object_element(props, po);
    }
    json_object_set_array_member(o, "props", props);
    return o;
}

void dm_instances_health(DmServer *s, JsonObject *health)
{
    JsonArray *models = json_array_new();
    GHashTableIter it;
    DmInstance *inst;
    unsigned running = 0;
    char **m;

    for (m = s->models; *m; m++) {
        json_array_add_object_element(models, instances_model_json(*m));
    }
    g_hash_table_iter_init(&it, s->instances);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&inst)) {
        running += inst->state == DM_INST_RUNNING;
    }
    json_object_set_array_member(health, "models", models);
    json_object_set_int_member(health, "capacity", s->l->capacity);
    json_object_set_int_member(health, "running", running);
}

unsigned dm_instances_live(DmServer *s)
{
    return g_hash_table_size(s->instances) + g_hash_table_size(s->l->dying);
}

void dm_instances_stop_all(DmServer *s)
{
    g_autoptr(GList) all = g_hash_table_get_values(s->instances);
    GList *l;

    for (l = all; l; l = l->next) {
        dm_instance_stop(l->data, NULL);
    }
}

/*
 * Is @port free on @addr (the model host, or the VNC host)?  Same
 * SO_REUSEADDR as dm-remote's.
 */
static bool instances_port_free_on(const struct sockaddr_storage *addr,
                                   socklen_t addrlen, unsigned port)
{
    struct sockaddr_storage ss = *addr;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    bool ok;

    if (fd < 0) {
        return false;
    }
    if (ss.ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
    } else {
        ((struct sockaddr_in *)&ss)->sin_port = htons(port);
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    ok = bind(fd, (struct sockaddr *)&ss, addrlen) == 0;
    close(fd);
    return ok;
}

static bool instances_port_free(DmServer *s, unsigned port)
{
    return instances_port_free_on(&s->model_addr, s->model_addrlen, port);
}

static bool instances_port_ours(DmServer *s, unsigned port)
{
    GHashTableIter it;
    DmInstance *inst;

    /* A model waiting for its restart does not hold its port meanwhile. */
    if (s->router && s->router->tcp && s->router->port == port) {
        return true;
    }
    g_hash_table_iter_init(&it, s->instances);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&inst)) {
        if ((inst->tcp && inst->port == port) || inst->vnc_port == port) {
            return true;
        }
    }
    return false;
}

int dm_instances_pick_port(DmServer *s, unsigned *ret_port)
{
    unsigned port;

    for (port = s->port_lo; port <= s->port_hi; port++) {
        if (!instances_port_ours(s, port) && instances_port_free(s, port)) {
            *ret_port = port;
            return 0;
        }
    }
    return -EADDRINUSE;
}

/* A display's VNC port: free on the VNC host, not its model's port. */
static int instances_pick_vnc_port(DmServer *s, DmInstance *inst,
                                   unsigned *ret_port)
{
    for (unsigned port = s->port_lo; port <= s->port_hi; port++) {
        if (port != inst->port && !instances_port_ours(s, port) &&
            instances_port_free_on(&s->vnc_addr, s->vnc_addrlen, port)) {
            *ret_port = port;
            return 0;
        }
    }
    return -EADDRINUSE;
}

static const DmModel *instances_model(DmServer *s, const char *name)
{
    return g_strv_contains((const char *const *)s->models, name) ?
           dm_model_find(name) : NULL;
}

/* "bind": an object of optional identifier strings. */
static int instances_parse_bind(SoupServerMessage *msg, JsonObject *req,
                                DmInstance *inst)
{
    JsonNode *n = json_object_get_member(req, "bind");
    g_autoptr(GList) names = NULL;
    JsonObject *bind;
    GList *l;
    unsigned i;

    if (!n || JSON_NODE_HOLDS_NULL(n)) {
        return 0;
    }
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST,
                      "'bind' must be an object");
        return -EINVAL;
    }
    bind = json_node_get_object(n);
    names = json_object_get_members(bind);
    for (l = names; l; l = l->next) {
        const char *value;

        for (i = 0; i < DM_BIND_COUNT; i++) {
            if (strcmp(l->data, dm_bind_names[i]) == 0) {
                break;
            }
        }
        if (i == DM_BIND_COUNT) {
            dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "unknown 'bind' "
                          "member '%s' (vm, hypervisor, client_platform, "
                          "device_model, server_platform)",
                          (const char *)l->data);
            return -EINVAL;
        }
        if (dm_http_member_string(msg, bind, l->data, &value) < 0) {
            return -EINVAL;
        }
        if (!value) {
            continue;           /* null: not bound */
        }
        if (!value[0] || strlen(value) > VUP_ID_MAX) {
            dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "'bind.%s' must be "
                          "1 to %d bytes", (const char *)l->data, VUP_ID_MAX);
            return -EINVAL;
        }
        inst->bind[i] = g_strdup(value);
    }
    return 0;
}

/*
 * "vnc": "tcp" (the default) or "unix", for a display: where its VNC
 * server listens is the launcher's to choose (instances_place).
 */
static int instances_parse_vnc(SoupServerMessage *msg, JsonObject *req,
                               DmInstance *inst)
{
    const char *vnc;

    if (dm_http_member_string(msg, req, "vnc", &vnc) < 0) {
        return -EINVAL;
    }
    if (!dm_model_find_prop(inst->model, "vnc")) {
        if (vnc) {
            dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "model '%s' has no "
                          "VNC server", inst->model->name);
            return -EINVAL;
        }
        return 0;
    }
    if (vnc && strcmp(vnc, "tcp") != 0 && strcmp(vnc, "unix") != 0) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "unknown vnc '%s' (tcp "
                      "or unix)", vnc);
        return -EINVAL;
    }
    /* A marker until placed: port 1 asks for TCP, 0 for a socket. */
    inst->vnc_port = !vnc || strcmp(vnc, "tcp") == 0;
    inst->vnc = g_strdup("");
    return 0;
}

/* transport, restart and console; the model is known by now. */
static int instances_parse_options(SoupServerMessage *msg, JsonObject *req,
                                   DmInstance *inst)
{
    const char *transport, *restart;
    JsonNode *n;

    if (dm_http_member_string(msg, req, "transport", &transport) < 0 ||
        dm_http_member_string(msg, req, "restart", &restart) < 0) {
        return -EINVAL;
    }
    if (transport && strcmp(transport, "tcp") != 0 &&
        strcmp(transport, "unix") != 0) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "unknown transport '%s' "
                      "(tcp or unix)", transport);
        return -EINVAL;
    }
    inst->tcp = !transport || strcmp(transport, "tcp") == 0;
    if (restart && strcmp(restart, "never") != 0 &&
        strcmp(restart, "on-failure") != 0) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "unknown restart policy "
                      "'%s' (never or on-failure)", restart);
        return -EINVAL;
    }
    inst->restart_on_failure = restart && strcmp(restart, "on-failure") == 0;
    n = json_object_get_member(req, "console");
    if (n && JSON_NODE_HOLDS_NULL(n)) {
        n = NULL;
    }
    if (n && (!JSON_NODE_HOLDS_VALUE(n) ||
              json_node_get_value_type(n) != G_TYPE_BOOLEAN)) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST,
                      "'console' must be true or false");
        return -EINVAL;
    }
    if (n && json_node_get_boolean(n)) {
        if (!dm_model_find_prop(inst->model, "console")) {
            dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "model '%s' has no "
                          "console", inst->model->name);
            return -EINVAL;
        }
        inst->console_path = g_build_filename(inst->child.dir, "console",
                                              NULL);
    }
    dm_instance_set_input(inst);
    return instances_parse_vnc(msg, req, inst);
}

static int instances_parse_token(SoupServerMessage *msg, JsonObject *req,
                                 const char **ret_token)
{
    const char *token;

    if (dm_http_member_string(msg, req, "token", &token) < 0) {
        return -EINVAL;
    }
    if (token && (!token[0] || strlen(token) > VUP_ID_MAX ||
                  strpbrk(token, "\r\n"))) {
        /* Never echo a token, not even a bad one. */
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "'token' must be 1 to %d "
                      "bytes without line breaks", VUP_ID_MAX);
        return -EINVAL;
    }
    *ret_token = token;
    return 0;
}

/*
 * Parse a POST body into a new instance (not launched).  On failure the
 * reply is set and -errno returned.
 */
static int instances_parse(DmServer *s, SoupServerMessage *msg,
                           JsonObject *req, DmInstance **ret_inst,
                           const char **ret_token)
{
    const char *id, *model_name;
    const DmModel *model;
    DmInstance *inst;
    g_autofree char *err = NULL;
    unsigned status;

    if (dm_http_member_string(msg, req, "id", &id) < 0 ||
        dm_http_member_string(msg, req, "model", &model_name) < 0) {
        return -EINVAL;
    }
    if (!id || !model_name) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "missing '%s'",
                      id ? "model" : "id");
        return -EINVAL;
    }
    if (!vup_name_valid(id)) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "bad id '%s' (1 to %d "
                      "characters of A-Z a-z 0-9 . _ -)", id, VUP_NAME_MAX);
        return -EINVAL;
    }
    model = instances_model(s, model_name);
    if (!model) {
        g_autofree char *offered = g_strjoinv(", ", s->models);

        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "unknown model '%s' "
                      "(this platform offers %s)", model_name, offered);
        return -EINVAL;
    }
    inst = dm_instance_new(s, id, model);
    inst->props = dm_model_props_check(model, s->images_dir,
                                       json_object_get_member(req, "props"),
                                       &status, &err);
    if (!inst->props) {
        dm_http_error(msg, status, "%s", err);
        dm_instance_free(inst);
        return -EINVAL;
    }
    if (json_object_has_member(inst->props, "bridge")) {
        const char *br = json_object_get_string_member(inst->props,
                                                       "bridge");

        /* The operator's bridges only: not any interface of the host. */
        if (!dm_tap_bridge_allowed(s->bridges, br)) {
            dm_http_error(msg, SOUP_STATUS_FORBIDDEN, "bridge '%s' is not "
                          "offered here (the launcher's --bridges)", br);
            dm_instance_free(inst);
            return -EPERM;
        }
        dm_instance_set_tap(inst);
    }
    if (instances_parse_options(msg, req, inst) < 0 ||
        instances_parse_bind(msg, req, inst) < 0 ||
        instances_parse_token(msg, req, ret_token) < 0) {
        dm_instance_free(inst);
        return -EINVAL;
    }
    *ret_inst = inst;
    return 0;
}

/* Where the model listens: a free port, or a socket in the state dir. */
static int instances_place(DmServer *s, SoupServerMessage *msg,
                           DmInstance *inst)
{
    if (!inst->tcp) {
        inst->sock_path = g_build_filename(inst->child.dir, "sock", NULL);
        inst->address = g_strdup_printf("unix:%s", inst->sock_path);
    } else if (dm_instances_pick_port(s, &inst->port) < 0) {
        dm_http_error(msg, SOUP_STATUS_CONFLICT, "no free port in %u-%u",
                      s->port_lo, s->port_hi);
        return -EADDRINUSE;
    } else {
        dm_instance_set_port(inst, inst->port);
    }
    if (inst->vnc) {
        unsigned port = 0;

        if (inst->vnc_port &&
            instances_pick_vnc_port(s, inst, &port) < 0) {
            dm_http_error(msg, SOUP_STATUS_CONFLICT, "no free port in "
                          "%u-%u for the VNC server", s->port_lo,
                          s->port_hi);
            return -EADDRINUSE;
        }
        g_clear_pointer(&inst->vnc, g_free);
        dm_instance_set_vnc(inst, port);
    }
    if ((inst->sock_path && strlen(inst->sock_path) > SUN_PATH_MAX) ||
        (inst->vnc_path && strlen(inst->vnc_path) > SUN_PATH_MAX) ||
        (inst->keyboard_link &&
         strlen(inst->keyboard_link) > SUN_PATH_MAX) ||
        (inst->console_path && strlen(inst->console_path) > SUN_PATH_MAX) ||
        (inst->input_path && strlen(inst->input_path) > SUN_PATH_MAX)) {
        dm_http_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "socket path "
                      "in the state directory longer than %zu bytes",
                      SUN_PATH_MAX);
        return -ENAMETOOLONG;
    }
    return 0;
}

static void instances_create(DmServer *s, SoupServerMessage *msg)
{
    g_autoptr(JsonObject) req = NULL;
    g_autofree char *err = NULL;
    const char *token = NULL;
    DmInstance *inst;

    if (dm_http_body_object(msg, &req) < 0 ||
        instances_parse(s, msg, req, &inst, &token) < 0) {
        return;
    }
    if (s->l->stopping) {
        dm_http_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
                      "the daemon is shutting down");
    } else if (g_hash_table_contains(s->instances, inst->child.id)) {
        dm_http_error(msg, SOUP_STATUS_CONFLICT,
                      "instance '%s' already exists", inst->child.id);
    } else if (g_hash_table_contains(s->l->dying, inst->child.id)) {
        dm_http_error(msg, SOUP_STATUS_CONFLICT,
                      "instance '%s' is still stopping", inst->child.id);
    } else if (g_hash_table_size(s->instances) >= s->l->capacity) {
        dm_http_error(msg, SOUP_STATUS_CONFLICT, "capacity full (%u "
                      "instances)", s->l->capacity);
    } else if (inst->vnc && dm_pairing_display_of(s, inst->bind[0], NULL)) {
        /* One VNC display per VM: its inputs go to one screen. */
        dm_http_error(msg, SOUP_STATUS_CONFLICT, "VM '%s' has a display "
                      "here already ('%s')", inst->bind[0],
                      dm_pairing_display_of(s, inst->bind[0],
                                            NULL)->child.id);
    } else if (inst->tap && !dm_tap_bridge_exists(
                   json_object_get_string_member(inst->props, "bridge"))) {
        dm_http_error(msg, SOUP_STATUS_CONFLICT, "bridge '%s' does not exist "
                      "on this platform",
                      json_object_get_string_member(inst->props, "bridge"));
    } else if (inst->tap && !dm_tap_bridge_up(
                   json_object_get_string_member(inst->props, "bridge"))) {
        dm_http_error(msg, SOUP_STATUS_CONFLICT, "bridge '%s' is down on "
                      "this platform: it would pass no frame",
                      json_object_get_string_member(inst->props, "bridge"));
    } else if (instances_place(s, msg, inst) == 0 &&
               (!token || dm_instance_set_token(inst, token, &err) == 0) &&
               (!inst->vnc || dm_instance_make_vnc_password(inst,
                                                            &err) == 0) &&
               (!inst->tap ||
                dm_tap_create(inst->tap,
                              json_object_get_string_member(inst->props,
                                                            "bridge"),
                              &err) == 0)) {
        /* A failed launch frees @inst: its id is logged from a copy. */
        g_autofree char *id = g_strdup(inst->child.id);

        if (dm_instance_launch(inst, msg, &err) == 0) {
            /* In the table now, answered once the model listens. */
            dm_pairing_link(s, inst);
            return;
        }
        dm_error("instance %s: %s", id, err);
        dm_http_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "%s", err);
        return;                 /* freed by dm_instance_launch() */
    } else if (err) {
        if (inst->token_path) {
            unlink(inst->token_path);
        }
        dm_error("instance %s: %s", inst->child.id, err);
        dm_http_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "%s", err);
    }
    dm_instance_free(inst);
}

static void instances_list(DmServer *s, SoupServerMessage *msg)
{
    g_autoptr(GList) all = g_hash_table_get_values(s->instances);
    JsonArray *arr = json_array_new();
    JsonObject *o = json_object_new();
    GList *l;

    for (l = all; l; l = l->next) {
        json_array_add_object_element(arr, dm_instance_json(l->data));
    }
    json_object_set_array_member(o, "instances", arr);
    dm_http_reply_object(msg, SOUP_STATUS_OK, o);
}

void dm_instances_handle(DmServer *s, SoupServerMessage *msg,
                         const char *id)
{
    const char *method = soup_server_message_get_method(msg);
    DmInstance *inst;

    if (!id) {
        if (strcmp(method, "POST") == 0) {
            instances_create(s, msg);
        } else if (strcmp(method, "GET") == 0) {
            instances_list(s, msg);
        } else {
            dm_http_not_allowed(msg, "GET, POST");
        }
        return;
    }
    inst = g_hash_table_lookup(s->instances, id);
    if (strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0) {
        dm_http_not_allowed(msg, "GET, DELETE");
    } else if (!inst) {
        dm_http_error(msg, SOUP_STATUS_NOT_FOUND, "no instance '%s'", id);
    } else if (strcmp(method, "GET") == 0) {
        dm_http_reply_object(msg, SOUP_STATUS_OK, dm_instance_json(inst));
    } else {
        dm_info("instance %s (%s): stopping", inst->child.id,
                inst->model->name);
        dm_pairing_unlink(s, inst);
        dm_instance_stop(inst, msg);
    }
}

static void instances_adopt_one(void *opaque, const char *id, const char *dir,
                                JsonObject *rec, pid_t pid, guint64 start)
{
    DmServer *s = opaque;
    const char *name = dm_record_string(rec, "model");
    const DmModel *model = name ? instances_model(s, name) : NULL;

    if (!model) {
        dm_warn("instance %s: its record names no model offered here, "
                "leaving pid %d alone", id, (int)pid);
        dm_record_remove(dir);
        return;
    }
    DmInstance *inst = dm_instance_new(s, id, model);

    if (dm_instance_adopt(inst, rec, pid, start) == 0) {
        dm_pairing_link(s, inst);
    }
}

void dm_instances_adopt_all(DmServer *s)
{
    dm_records_scan(s->l, "instances", "instance", instances_adopt_one, s);
}
