/*
 * Client role: the /v1/vms endpoints and the QMP relay.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <string.h>
#include <sys/un.h>

#include "http.h"
#include "log.h"
#include "record.h"
#include "vm.h"
#include "vms.h"

#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
#define DM_VM_ARGS_MAX 4096
#define DM_VM_FILES_MAX 64

void dm_vms_init(DmClient *c)
{
    c->vms = g_hash_table_new(g_str_hash, g_str_equal);
}

void dm_vms_free(DmClient *c)
{
    g_clear_pointer(&c->vms, g_hash_table_destroy);
}

void dm_vms_health(DmClient *c, JsonObject *health)
{
    GHashTableIter it;
    DmVm *vm;
    unsigned running = 0;

    g_hash_table_iter_init(&it, c->vms);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&vm)) {
        running += vm->state == DM_VM_RUNNING;
    }
    json_object_set_int_member(health, "capacity", c->l->capacity);
    json_object_set_int_member(health, "running", running);
}

unsigned dm_vms_live(DmClient *c)
{
    return g_hash_table_size(c->vms) + g_hash_table_size(c->l->dying);
}

void dm_vms_stop_all(DmClient *c)
{
    g_autoptr(GList) all = g_hash_table_get_values(c->vms);
    GList *l;

    for (l = all; l; l = l->next) {
        dm_vm_stop(l->data, NULL);
    }
}

static bool vms_migrate_uri_ok(DmClient *c, const char *uri);

typedef bool VmsValueFn(DmClient *c, const char *value);

/* -serial: no host file, socket or pty. */
static bool vms_serial_ok(DmClient *c, const char *v)
{
    return strcmp(v, "none") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "stdio") == 0;
}

/* -qtest: the test protocol on nothing (with -accel qtest). */
static bool vms_qtest_ok(DmClient *c, const char *v)
{
    return strcmp(v, "null") == 0;
}

/* -incoming exec:CMD would run a shell command. */
static bool vms_incoming_ok(DmClient *c, const char *v)
{
    return strcmp(v, "defer") == 0 || vms_migrate_uri_ok(c, v);
}

/* -device: the fork's proxies only (-device loader,file=... reads files). */
static bool vms_device_ok(DmClient *c, const char *v)
{
    static const char *const drivers[] = { "dm-proxy-pci", "dm-proxy-isa" };
    size_t i, len;

    for (i = 0; i < G_N_ELEMENTS(drivers); i++) {
        len = strlen(drivers[i]);
        if (strncmp(v, drivers[i], len) == 0 &&
            (v[len] == '\0' || v[len] == ',')) {
            return true;
        }
    }
    return false;
}

/*
 * -object: only the orchestrator's secrets, from the VM's own directory
 * (file=@STATE@/NAME): a secret read from anywhere would be sent to a
 * model as its token, and other objects reach host files and sockets.
 */
static bool vms_object_ok(DmClient *c, const char *v)
{
    const char *p = v;

    if (!g_str_has_prefix(v, "secret,")) {
        return false;
    }
    while ((p = strstr(p, "file=")) != NULL) {
        p += strlen("file=");
        if (!g_str_has_prefix(p, "@STATE@/") || strstr(p, "/..")) {
            return false;
        }
    }
    return !strstr(v, "dir=");
}

/*
 * The QEMU options a VM's args may hold: what the orchestrator composes
 * (docs/orchestrator.md) and a few harmless ones a VM definition may add,
 * with their values checked where they could reach the host.  Anything
 * else (-monitor, -qmp, -add-fd, -plugin, -run-with, -daemonize, -device
 * loader,file=..., -chardev, -display vnc=..., a bare disk image, ...)
 * would reach beyond the VM as our user.
 */
typedef struct VmsOption {
    const char *name;
    bool value;                 /* takes the next argument */
    VmsValueFn *value_ok;       /* NULL: any value */
    const char *values;         /* what value_ok takes, for the error */
} VmsOption;

#define VMS_ANY(n)      { .name = (n), .value = true }
#define VMS_FLAG(n)     { .name = (n), .value = false }
#define VMS_CHECKED(n, fn, what) \
    { .name = (n), .value = true, .value_ok = (fn), .values = (what) }

static const VmsOption vms_options[] = {
    VMS_ANY("machine"), VMS_ANY("M"), VMS_ANY("accel"), VMS_ANY("cpu"),
    VMS_ANY("m"), VMS_ANY("smp"), VMS_ANY("kernel"), VMS_ANY("initrd"),
    VMS_ANY("append"), VMS_ANY("remote-device"), VMS_ANY("rtc"),
    VMS_ANY("uuid"),
    VMS_CHECKED("serial", vms_serial_ok, "none, null or stdio"),
    VMS_CHECKED("device", vms_device_ok, "dm-proxy-pci or dm-proxy-isa"),
    VMS_CHECKED("qtest", vms_qtest_ok, "null"),
    VMS_CHECKED("incoming", vms_incoming_ok,
                "defer, tcp:, unix: or file: in the save directory"),
    VMS_CHECKED("object", vms_object_ok,
                "secret,... with file=@STATE@/NAME"),
    VMS_FLAG("S"), VMS_FLAG("no-reboot"), VMS_FLAG("no-shutdown"),
};

/* NULL if @args are allowed, else why not (to free). */
static char *vms_args_refusal(DmClient *c, char **args)
{
    size_t i, j;

    for (i = 0; args[i]; i++) {
        const char *name = args[i];
        const VmsOption *opt = NULL;

        if (name[0] != '-') {
            return g_strdup_printf("'args[%zu]' ('%s') is not an option "
                                   "(QEMU would take it for a disk image)",
                                   i, name);
        }
        name += name[1] == '-' ? 2 : 1;     /* QEMU takes --opt too */
        for (j = 0; j < G_N_ELEMENTS(vms_options); j++) {
            if (strcmp(name, vms_options[j].name) == 0) {
                opt = &vms_options[j];
            }
        }
        if (!opt) {
            return g_strdup_printf("QEMU option '%s' is not allowed in "
                                   "'args'", args[i]);
        }
        if (!opt->value) {
            continue;
        }
        if (!args[i + 1]) {
            return g_strdup_printf("QEMU option '%s' needs a value",
                                   args[i]);
        }
        i++;
        if (opt->value_ok && !opt->value_ok(c, args[i])) {
            return g_strdup_printf("'%s %s' is not allowed in 'args' (%s "
                                   "only)", args[i - 1], args[i],
                                   opt->values);
        }
    }
    return NULL;
}

/* "args": an array of strings, as a NULL-terminated vector. */
static int vms_parse_args(SoupServerMessage *msg, JsonObject *req,
                          char ***ret_args)
{
    JsonNode *n = json_object_get_member(req, "args");
    JsonArray *arr;
    guint i, len;
    char **args;

    *ret_args = NULL;
    if (!n) {
        return 0;
    }
    if (!JSON_NODE_HOLDS_ARRAY(n)) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST,
                      "'args' must be an array of strings");
        return -EINVAL;
    }
    arr = json_node_get_array(n);
    len = json_array_get_length(arr);
    if (len > DM_VM_ARGS_MAX) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "'args' has more than "
                      "%d elements", DM_VM_ARGS_MAX);
        return -E2BIG;
    }
    for (i = 0; i < len; i++) {
        JsonNode *e = json_array_get_element(arr, i);

        if (!JSON_NODE_HOLDS_VALUE(e) ||
            json_node_get_value_type(e) != G_TYPE_STRING) {
            dm_http_error(msg, SOUP_STATUS_BAD_REQUEST,
                          "'args[%u]' must be a string", i);
            return -EINVAL;
        }
    }
    args = g_new0(char *, len + 1);
    for (i = 0; i < len; i++) {
        args[i] = g_strdup(json_array_get_string_element(arr, i));
    }
    *ret_args = args;
    return 0;
}

/* "files": {"NAME": "CONTENT"}; checked here, written by vms_create(). */
static int vms_check_files(SoupServerMessage *msg, JsonObject *req,
                           JsonObject **ret_files)
{
    JsonNode *n = json_object_get_member(req, "files");
    g_autoptr(GList) names = NULL;
    JsonObject *files;
    GList *l;

    *ret_files = NULL;
    if (!n) {
        return 0;
    }
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST,
                      "'files' must be an object of strings");
        return -EINVAL;
    }
    files = json_node_get_object(n);
    if (json_object_get_size(files) > DM_VM_FILES_MAX) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "more than %d 'files'",
                      DM_VM_FILES_MAX);
        return -E2BIG;
    }
    names = json_object_get_members(files);
    for (l = names; l; l = l->next) {
        JsonNode *e = json_object_get_member(files, l->data);

        if (!vup_name_valid(l->data) || strcmp(l->data, "log") == 0 ||
            strcmp(l->data, "qmp") == 0) {
            dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "bad file name '%s' "
                          "(1 to %d characters of A-Z a-z 0-9 . _ -, not "
                          "log or qmp)", (const char *)l->data, VUP_NAME_MAX);
            return -EINVAL;
        }
        if (!JSON_NODE_HOLDS_VALUE(e) ||
            json_node_get_value_type(e) != G_TYPE_STRING) {
            dm_http_error(msg, SOUP_STATUS_BAD_REQUEST,
                          "'files.%s' must be a string",
                          (const char *)l->data);
            return -EINVAL;
        }
    }
    *ret_files = files;
    return 0;
}

static int vms_write_files(DmVm *vm, JsonObject *files, char **ret_err)
{
    g_autoptr(GList) names = files ? json_object_get_members(files) : NULL;
    GList *l;
    int ret;

    for (l = names; l; l = l->next) {
        ret = dm_vm_write_file(vm, l->data,
                               json_object_get_string_member(files, l->data),
                               ret_err);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

static void vms_create(DmClient *c, SoupServerMessage *msg)
{
    g_autoptr(JsonObject) req = NULL;
    g_auto(GStrv) args = NULL;
    g_autofree char *err = NULL;
    g_autofree char *why = NULL;
    JsonObject *files;
    const char *id;
    DmVm *vm;

    if (dm_http_body_object(msg, &req) < 0 ||
        dm_http_member_string(msg, req, "id", &id) < 0 ||
        vms_parse_args(msg, req, &args) < 0 ||
        vms_check_files(msg, req, &files) < 0) {
        return;
    }
    if (args && (why = vms_args_refusal(c, args))) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "%s", why);
    } else if (!id) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "missing 'id'");
    } else if (!vup_name_valid(id)) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "bad id '%s' (1 to %d "
                      "characters of A-Z a-z 0-9 . _ -)", id, VUP_NAME_MAX);
    } else if (c->l->stopping) {
        dm_http_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
                      "the daemon is shutting down");
    } else if (g_hash_table_contains(c->vms, id)) {
        dm_http_error(msg, SOUP_STATUS_CONFLICT, "vm '%s' already exists",
                      id);
    } else if (g_hash_table_contains(c->l->dying, id)) {
        dm_http_error(msg, SOUP_STATUS_CONFLICT, "vm '%s' is still stopping",
                      id);
    } else if (g_hash_table_size(c->vms) >= c->l->capacity) {
        dm_http_error(msg, SOUP_STATUS_CONFLICT, "capacity full (%u VMs)",
                      c->l->capacity);
    } else {
        vm = dm_vm_new(c, id);
        if (strlen(vm->qmp_path) > SUN_PATH_MAX) {
            err = g_strdup_printf("QMP socket path longer than %zu bytes",
                                  SUN_PATH_MAX);
        } else if (vms_write_files(vm, files, &err) == 0) {
            if (dm_vm_launch(vm, args, msg, &err) == 0) {
                return;         /* answered once QMP accepts */
            }
            vm = NULL;          /* dm_vm_launch() discarded it */
        }
        dm_error("vm %s: %s", id, err);
        dm_http_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "%s", err);
        if (vm) {
            dm_vm_discard(vm);
        }
    }
}

static void vms_list(DmClient *c, SoupServerMessage *msg)
{
    g_autoptr(GList) all = g_hash_table_get_values(c->vms);
    JsonArray *arr = json_array_new();
    JsonObject *o = json_object_new();
    GList *l;

    for (l = all; l; l = l->next) {
        json_array_add_object_element(arr, dm_vm_json(l->data));
    }
    json_object_set_array_member(o, "vms", arr);
    dm_http_reply_object(msg, SOUP_STATUS_OK, o);
}

static void vms_qmp_reply(JsonNode *reply, const char *error, void *opaque)
{
    SoupServerMessage *msg = opaque;

    if (reply) {
        dm_http_reply(msg, SOUP_STATUS_OK, json_node_ref(reply));
    } else {
        dm_http_error(msg, SOUP_STATUS_BAD_GATEWAY, "%s", error);
    }
    dm_http_resume(msg);
}

/*
 * A migration URI the relay passes: a stream to tcp: or unix:, or a
 * file: path in --save-dir, without ".." and without QEMU's ,options.
 * exec:, fd: and the rest would run or reach anything as our user.
 */
static bool vms_migrate_uri_ok(DmClient *c, const char *uri)
{
    g_auto(GStrv) parts = NULL;
    const char *path;
    char **p;

    if (g_str_has_prefix(uri, "tcp:") || g_str_has_prefix(uri, "unix:")) {
        return !strchr(uri, ',');
    }
    if (!g_str_has_prefix(uri, "file:")) {
        return false;
    }
    path = uri + 5;
    if (!g_str_has_prefix(path, c->save_dir) ||
        path[strlen(c->save_dir)] != '/' || strchr(path, ',')) {
        return false;
    }
    for (; *path; path++) {
        if (g_ascii_iscntrl(*path)) {
            return false;
        }
    }
    parts = g_strsplit(uri + 5, "/", -1);
    for (p = parts; *p; p++) {
        if (strcmp(*p, "..") == 0) {
            return false;
        }
    }
    return true;
}

/*
 * migrate-set-parameters: only the migration's TLS (the orchestrator
 * turns it on for a migration between platforms with credentials, off
 * otherwise): tls-creds naming one of the launcher's objects or "",
 * tls-hostname a host name or "".
 */
static const char *vms_tls_parameters_refusal(JsonNode *args)
{
    static const char *const creds[] = {
        "", "dm-model-tls", "dm-migrate-tls", NULL,
    };
    JsonObject *o = args ? json_node_get_object(args) : NULL;
    g_autoptr(GList) members = o ? json_object_get_members(o) : NULL;

    if (!members) {
        return "takes 'tls-creds' and 'tls-hostname' here";
    }
    for (GList *l = members; l; l = l->next) {
        JsonNode *n = json_object_get_member(o, l->data);
        const char *v;

        if (strcmp(l->data, "tls-creds") != 0 &&
            strcmp(l->data, "tls-hostname") != 0) {
            return "takes only 'tls-creds' and 'tls-hostname' here";
        }
        if (!JSON_NODE_HOLDS_VALUE(n) ||
            json_node_get_value_type(n) != G_TYPE_STRING) {
            return "takes only strings here";
        }
        v = json_node_get_string(n);
        if (strcmp(l->data, "tls-creds") == 0) {
            if (!g_strv_contains(creds, v)) {
                return "takes only tls-creds dm-model-tls, dm-migrate-tls "
                       "or \"\"";
            }
        } else if (strlen(v) > 255 ||
                   strspn(v, "abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789.-:[]") != strlen(v)) {
            return "takes a host name or address as tls-hostname";
        }
    }
    return NULL;
}

/* set_link: exactly a device name and a boolean. */
static const char *vms_set_link_refusal(JsonNode *args)
{
    JsonObject *o = args && JSON_NODE_HOLDS_OBJECT(args) ?
                    json_node_get_object(args) : NULL;
    JsonNode *name = o ? json_object_get_member(o, "name") : NULL;
    JsonNode *up = o ? json_object_get_member(o, "up") : NULL;

    if (!name || !up || json_object_get_size(o) != 2 ||
        !JSON_NODE_HOLDS_VALUE(name) || !JSON_NODE_HOLDS_VALUE(up) ||
        json_node_get_value_type(name) != G_TYPE_STRING ||
        json_node_get_value_type(up) != G_TYPE_BOOLEAN ||
        !vup_name_valid(json_node_get_string(name))) {
        return "takes exactly 'name' (a device name) and 'up' (a boolean)";
    }
    return NULL;
}

/*
 * The relay passes only what the orchestrator sends (and read-only
 * query-* commands): QMP is QEMU's root shell otherwise (migrate to
 * exec:, human-monitor-command, device_add, ...).  NULL if @cmd is
 * allowed, else why not.
 */
static const char *vms_qmp_refusal(DmClient *c, const char *execute,
                                   JsonNode *args)
{
    static const char *const plain[] = {
        "cont", "stop", "quit", "system_powerdown", "migrate_cancel",
        NULL,
    };
    JsonObject *o;
    JsonNode *uri;

    if (g_str_has_prefix(execute, "query-")) {
        return NULL;
    }
    if (g_strv_contains(plain, execute)) {
        return args ? "takes no 'arguments' here" : NULL;
    }
    if (strcmp(execute, "migrate-set-parameters") == 0) {
        return vms_tls_parameters_refusal(args);
    }
    if (strcmp(execute, "set_link") == 0) {
        return vms_set_link_refusal(args);
    }
    if (strcmp(execute, "migrate") != 0 &&
        strcmp(execute, "migrate-incoming") != 0) {
        return "is not relayed (only query-*, cont, stop, quit, "
               "system_powerdown, migrate, migrate-incoming, "
               "migrate-set-parameters, migrate_cancel and set_link)";
    }
    o = args ? json_node_get_object(args) : NULL;
    uri = o ? json_object_get_member(o, "uri") : NULL;
    if (!uri || json_object_get_size(o) != 1 || !JSON_NODE_HOLDS_VALUE(uri) ||
        json_node_get_value_type(uri) != G_TYPE_STRING) {
        return "takes exactly one argument here, 'uri' (a string)";
    }
    if (!vms_migrate_uri_ok(c, json_node_get_string(uri))) {
        return "takes only a tcp:, unix: or file:SAVE_DIR/PATH 'uri' "
               "(no exec:, fd:, options or .., files only in the "
               "launcher's --save-dir)";
    }
    return NULL;
}

static void vms_qmp(DmVm *vm, SoupServerMessage *msg)
{
    g_autoptr(JsonObject) cmd = NULL;
    const char *execute, *why;
    JsonNode *n;

    if (dm_http_want_method(msg, "POST") < 0 ||
        dm_http_body_object(msg, &cmd) < 0 ||
        dm_http_member_string(msg, cmd, "execute", &execute) < 0) {
        return;
    }
    n = json_object_get_member(cmd, "arguments");
    if (!execute) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "missing 'execute'");
    } else if (n && !JSON_NODE_HOLDS_OBJECT(n)) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST,
                      "'arguments' must be an object");
    } else if ((why = vms_qmp_refusal(vm->c, execute, n))) {
        dm_http_error(msg, SOUP_STATUS_FORBIDDEN, "QMP command '%s' %s",
                      execute, why);
    } else if (vm->state != DM_VM_RUNNING || !vm->qmp) {
        dm_http_error(msg, SOUP_STATUS_BAD_GATEWAY, "vm '%s' is not running",
                      vm->child.id);
    } else {
        dm_http_defer(msg);
        dm_qmp_execute(vm->qmp, cmd, vms_qmp_reply, msg);
    }
}

static void vms_events(DmVm *vm, SoupServerMessage *msg)
{
    JsonObject *o;

    if (dm_http_want_method(msg, "GET") < 0) {
        return;
    }
    o = json_object_new();
    json_object_set_array_member(o, "events", vm->qmp ?
                                 dm_qmp_events(vm->qmp) : json_array_new());
    dm_http_reply_object(msg, SOUP_STATUS_OK, o);
}

void dm_vms_handle(DmClient *c, SoupServerMessage *msg, const char *id,
                   const char *sub)
{
    const char *method = soup_server_message_get_method(msg);
    DmVm *vm;

    if (!id) {
        if (strcmp(method, "POST") == 0) {
            vms_create(c, msg);
        } else if (strcmp(method, "GET") == 0) {
            vms_list(c, msg);
        } else {
            dm_http_not_allowed(msg, "GET, POST");
        }
        return;
    }
    vm = g_hash_table_lookup(c->vms, id);
    if (!vm) {
        dm_http_error(msg, SOUP_STATUS_NOT_FOUND, "no vm '%s'", id);
    } else if (sub && strcmp(sub, "qmp") == 0) {
        vms_qmp(vm, msg);
    } else if (sub) {
        vms_events(vm, msg);
    } else if (strcmp(method, "GET") == 0) {
        dm_http_reply_object(msg, SOUP_STATUS_OK, dm_vm_json(vm));
    } else if (strcmp(method, "DELETE") == 0) {
        dm_info("vm %s: stopping", vm->child.id);
        dm_vm_stop(vm, msg);
    } else {
        dm_http_not_allowed(msg, "GET, DELETE");
    }
}

static void vms_adopt_one(void *opaque, const char *id, const char *dir,
                          JsonObject *rec, pid_t pid, guint64 start)
{
    DmClient *c = opaque;

    dm_vm_adopt(dm_vm_new(c, id), rec, pid, start);
}

void dm_vms_adopt_all(DmClient *c)
{
    dm_records_scan(c->l, "vms", "vm", vms_adopt_one, c);
}
