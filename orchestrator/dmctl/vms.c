/*
 * dmctl vm ...: VMs, their life cycle and how they are shown.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <unistd.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "call.h"
#include "options.h"
#include "table.h"
#include "vms.h"

static void print_vm_line(JsonNode *reply)
{
    JsonObject *o = json_node_get_object(reply);
    g_autofree char *name = dmctl_cell(o, "name");
    g_autofree char *state = dmctl_cell(o, "state");
    g_autofree char *client = dmctl_cell(o, "client");
    g_autofree char *file = dmctl_cell(o, "saved_file");

    if (strcmp(file, "-") != 0) {
        printf("%s: %s to %s\n", name, state, file);
    } else if (strcmp(client, "-") == 0) {
        printf("%s: %s\n", name, state);
    } else {
        printf("%s: %s on %s\n", name, state, client);
    }
}

static void print_vms(JsonNode *reply)
{
    static const DmctlColumn cols[] = {
        { "NAME", "name" }, { "STATE", "state" }, { "CLIENT", "client" },
        { "MEMORY", "memory" }, { "DEVICES", "device_names" },
    };
    JsonArray *vms = dmctl_member_array(reply, "vms");
    guint i;

    for (i = 0; vms && i < json_array_get_length(vms); i++) {
        JsonObject *vm = json_array_get_object_element(vms, i);
        JsonArray *devs = json_object_get_array_member(vm, "devices");
        JsonArray *names = json_array_new();
        guint j;

        for (j = 0; devs && j < json_array_get_length(devs); j++) {
            JsonObject *d = json_array_get_object_element(devs, j);

            json_array_add_string_element(names, g_strdup_printf(
                "%s=%s", json_object_get_string_member(d, "name"),
                json_object_get_string_member(d, "model")));
        }
        json_object_set_array_member(vm, "device_names", names);
    }
    dmctl_table(cols, G_N_ELEMENTS(cols), vms);
}

static void print_vm(JsonNode *reply)
{
    static const char *const keys[] = { "name", "id", "state", "client",
                                        "hypervisor", "memory", "kernel",
                                        "initrd", "append", "boot",
                                        "saved_file", "vnc" };
    static const DmctlColumn cols[] = {
        { "DEVICE", "name" }, { "MODEL", "model" }, { "PROPS", "props" },
        { "BUS", "bus" },
        { "PINNED", "server" }, { "VIA", "via" },
        { "SERVER", "placed_on" }, { "ADDRESS", "address" },
        { "ROUTE", "route" }, { "CONSOLE", "console" },
    };
    JsonObject *o = json_node_get_object(reply);
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(keys); i++) {
        g_autofree char *cell = dmctl_cell(o, keys[i]);

        printf("%-11s %s\n", keys[i], cell);
    }
    printf("\n");
    dmctl_table(cols, G_N_ELEMENTS(cols),
                dmctl_member_array(reply, "devices"));
}

/*
 * --device NAME=MODEL[@SERVER][,via=OWNER][,PROP=VALUE|,PROP]... as a
 * device object (a bare PROP is PROP=on, as QEMU's -device writes
 * flags); NULL if malformed.  Names and properties are checked by the
 * orchestrator.
 */
static JsonNode *dmctl_device(const char *spec)
{
    g_autofree char *copy = g_strdup(spec);
    g_auto(GStrv) opts = NULL;
    char *model = strchr(copy, '='), *server;
    JsonObject *o, *props;

    if (!model || model == copy || !model[1]) {
        return NULL;
    }
    *model++ = '\0';
    opts = g_strsplit(model, ",", -1);
    model = opts[0];
    server = strchr(model, '@');
    if (server) {
        *server++ = '\0';
        if (!*server) {
            return NULL;
        }
    }
    if (!*model) {
        return NULL;
    }
    o = json_object_new();
    props = json_object_new();
    json_object_set_string_member(o, "name", copy);
    json_object_set_string_member(o, "model", model);
    if (server) {
        json_object_set_string_member(o, "server", server);
    }
    for (guint i = 1; opts[i]; i++) {
        char *val = strchr(opts[i], '=');

        if (val) {
            *val++ = '\0';
        }
        if (!opts[i][0] || (val && !*val) ||
            json_object_has_member(props, opts[i]) ||
            (g_str_equal(opts[i], "via") &&
             (!val || json_object_has_member(o, "via")))) {
            json_object_unref(o);
            json_object_unref(props);
            return NULL;
        }
        if (g_str_equal(opts[i], "via")) {
            json_object_set_string_member(o, "via", val);
        } else {
            json_object_set_string_member(props, opts[i], val ? val : "on");
        }
    }
    if (json_object_get_size(props)) {
        json_object_set_object_member(o, "props", props);
    } else {
        json_object_unref(props);
    }
    return dmctl_object_node(o);
}

int dmctl_vm_create(int argc, char **argv)
{
    static const struct option opts[] = {
        { "memory", required_argument, NULL, 'm' },
        { "kernel", required_argument, NULL, 'k' },
        { "initrd", required_argument, NULL, 'i' },
        { "append", required_argument, NULL, 'a' },
        { "device", required_argument, NULL, 'd' },
        { "restart", required_argument, NULL, 'r' },
        { "boot", required_argument, NULL, 'b' },
        { NULL, 0, NULL, 0 },
    };
    g_autoptr(JsonObject) o = json_object_new();
    g_autoptr(JsonNode) body = NULL;
    JsonArray *devs = json_array_new();
    const char *name, *restart = NULL;
    guint i;
    int c;

    json_object_set_array_member(o, "devices", devs);
    while ((c = dmctl_getopt(argc, argv, ":", opts, "vm create")) != -1) {
        JsonNode *dev;

        switch (c) {
        case 'm':
            json_object_set_string_member(o, "memory", optarg);
            break;
        case 'k':
            json_object_set_string_member(o, "kernel", optarg);
            break;
        case 'i':
            json_object_set_string_member(o, "initrd", optarg);
            break;
        case 'a':
            json_object_set_string_member(o, "append", optarg);
            break;
        case 'r':
            restart = optarg;
            break;
        case 'b':
            json_object_set_string_member(o, "boot", optarg);
            break;
        case 'd':
            dev = dmctl_device(optarg);
            if (!dev) {
                fprintf(stderr, "dmctl vm create: bad --device '%s' "
                        "(expected NAME=MODEL[@SERVER][,via=OWNER]"
                        "[,PROP=VALUE]...)\n",
                        optarg);
                return DMCTL_USAGE;
            }
            json_array_add_element(devs, dev);
            break;
        default:
            return DMCTL_USAGE;
        }
    }
    name = dmctl_one_name(argc, argv, "vm create");
    if (!name) {
        return DMCTL_USAGE;
    }
    for (i = 0; restart && i < json_array_get_length(devs); i++) {
        json_object_set_string_member(json_array_get_object_element(devs, i),
                                      "restart", restart);
    }
    json_object_set_string_member(o, "name", name);
    body = dmctl_object_node(json_object_ref(o));
    return dmctl_call("POST", "/v1/vms", body, print_vm_line);
}

static void dmctl_migrate_progress(JsonObject *vm);

/* vm start/stop/migrate: NAME, one optional value into the body. */
static int dmctl_vm_post(int argc, char **argv, const char *cmd,
                         const char *action, const char *opt,
                         const char *key, bool numeric, bool required)
{
    const struct option opts[] = {
        { opt, required_argument, NULL, 'o' },
        { NULL, 0, NULL, 0 },
    };
    g_autoptr(JsonObject) o = json_object_new();
    g_autoptr(JsonNode) body = NULL;
    g_autofree char *path = NULL;
    const char *name;
    char *end;
    int c;

    while ((c = dmctl_getopt(argc, argv, ":", opts, cmd)) != -1) {
        if (c != 'o') {
            return DMCTL_USAGE;
        }
        if (!numeric) {
            json_object_set_string_member(o, key, optarg);
            continue;
        }
        json_object_set_int_member(o, key, strtoll(optarg, &end, 10));
        if (!*optarg || *end || json_object_get_int_member(o, key) < 0) {
            fprintf(stderr, "dmctl %s: --%s must be a number >= 0, not "
                    "'%s'\n", cmd, opt, optarg);
            return DMCTL_USAGE;
        }
    }
    name = dmctl_one_name(argc, argv, cmd);
    if (!name) {
        return DMCTL_USAGE;
    }
    if (required && !json_object_has_member(o, key)) {
        fprintf(stderr, "dmctl %s: --%s is required\n", cmd, opt);
        return DMCTL_USAGE;
    }
    path = g_strdup_printf("/v1/vms/%s/%s", name, action);
    body = dmctl_object_node(json_object_ref(o));
    if (strcmp(action, "migrate") == 0 || strcmp(action, "save") == 0 ||
        strcmp(action, "restore") == 0) {
        g_autofree char *poll = g_strdup_printf("/v1/vms/%s", name);
        g_autoptr(JsonNode) reply = NULL;
        int ret = dmctl_api_watch("POST", path, body, poll,
                                  dmctl_migrate_progress, &reply);

        if (isatty(STDERR_FILENO)) {
            fprintf(stderr, "\n");
        }
        return ret == DMCTL_OK ? dmctl_show(reply, print_vm_line) : ret;
    }
    return dmctl_call("POST", path, body, print_vm_line);
}

/* One progress line per poll while migrating, saving or restoring. */
static void dmctl_migrate_progress(JsonObject *vm)
{
    g_autofree char *state = dmctl_cell(vm, "state");
    JsonObject *m;
    gint64 done = 0, total = 0;

    if (!json_object_has_member(vm, "migration") ||
        !JSON_NODE_HOLDS_OBJECT(json_object_get_member(vm, "migration"))) {
        return;
    }
    m = json_object_get_object_member(vm, "migration");
    if (json_object_has_member(m, "total")) {
        total = json_object_get_int_member(m, "total");
    }
    /*
     * The RAM gone through, total less remaining; "transferred" counts
     * bytes sent, which a guest's zero pages hardly add to.
     */
    if (json_object_has_member(m, "remaining")) {
        done = total - json_object_get_int_member(m, "remaining");
    } else if (json_object_has_member(m, "transferred")) {
        done = json_object_get_int_member(m, "transferred");
    }
    done = MAX(0, MIN(done, total));
    fprintf(stderr, "%s%s %s %s: %s, %" G_GINT64_FORMAT "%% (%"
            G_GINT64_FORMAT " of %" G_GINT64_FORMAT " MiB)%s",
            isatty(STDERR_FILENO) ? "\r" : "", state,
            strcmp(state, "restoring") == 0 ? "on" : "to",
            json_object_get_string_member(m, "to"),
            json_object_get_string_member(m, "status"),
            total > 0 ? done * 100 / total : 0, done >> 20, total >> 20,
            isatty(STDERR_FILENO) ? "" : "\n");
}

int dmctl_vm_start(int argc, char **argv)
{
    return dmctl_vm_post(argc, argv, "vm start", "start", "on", "client",
                         false, false);
}

int dmctl_vm_stop(int argc, char **argv)
{
    return dmctl_vm_post(argc, argv, "vm stop", "stop", "timeout",
                         "timeout", true, false);
}

int dmctl_vm_migrate(int argc, char **argv)
{
    return dmctl_vm_post(argc, argv, "vm migrate", "migrate", "to", "to",
                         false, true);
}

int dmctl_vm_save(int argc, char **argv)
{
    return dmctl_vm_post(argc, argv, "vm save", "save", "file", "file",
                         false, false);
}

int dmctl_vm_restore(int argc, char **argv)
{
    return dmctl_vm_post(argc, argv, "vm restore", "restore", "on",
                         "client", false, false);
}

int dmctl_vm_suspend(int argc, char **argv)
{
    return dmctl_named(argc, argv, "vm suspend", "POST",
                       "/v1/vms/%s/suspend", print_vm_line);
}

int dmctl_vm_resume(int argc, char **argv)
{
    return dmctl_named(argc, argv, "vm resume", "POST",
                       "/v1/vms/%s/resume", print_vm_line);
}

/* vm link NAME DEVICE up|down: QMP's set_link on the device's proxy. */
int dmctl_vm_link(int argc, char **argv)
{
    g_autoptr(JsonObject) body = json_object_new();
    g_autofree char *path = NULL;
    g_autofree char *vm = NULL, *dev = NULL;
    const char *state;

    if (dmctl_getopt(argc, argv, ":", (struct option[]){ { 0 } },
                     "vm link") != -1) {
        return DMCTL_USAGE;
    }
    if (argc - optind != 3 || (strcmp(argv[optind + 2], "up") != 0 &&
                               strcmp(argv[optind + 2], "down") != 0)) {
        fprintf(stderr, "dmctl vm link: takes a VM, a device and up or "
                "down\n");
        return DMCTL_USAGE;
    }
    vm = g_uri_escape_string(argv[optind], NULL, false);
    dev = g_uri_escape_string(argv[optind + 1], NULL, false);
    state = argv[optind + 2];
    json_object_set_boolean_member(body, "up", strcmp(state, "up") == 0);
    path = g_strdup_printf("/v1/vms/%s/devices/%s/link", vm, dev);
    return dmctl_call("POST", path, dmctl_object_node(g_steal_pointer(&body)),
                      print_vm_line);
}

int dmctl_vm_list(int argc, char **argv)
{
    return dmctl_plain(argc, argv, "vm list", "/v1/vms", print_vms);
}

int dmctl_vm_show(int argc, char **argv)
{
    return dmctl_named(argc, argv, "vm show", "GET", "/v1/vms/%s",
                       print_vm);
}

int dmctl_vm_remove(int argc, char **argv)
{
    return dmctl_named(argc, argv, "vm remove", "DELETE", "/v1/vms/%s",
                       dmctl_print_removed);
}

