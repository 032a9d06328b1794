/*
 * dm-orchestrator: starting, stopping, suspending and resuming VMs.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdarg.h>
#include <sys/random.h>

#include "db.h"
#include "error.h"
#include "launcher.h"
#include "lifecycle.h"
#include "placement.h"
#include "qemu-args.h"
#include "records.h"
#include "request.h"
#include "routes.h"
#include "vm.h"
#include "vm-redo.h"

/* How often a stop looks whether the guest has powered off. */
#define STOP_POLL_US (200 * 1000)

static void lifecycle_token(char out[33])
{
    guint8 raw[16];
    size_t i;

    if (getrandom(raw, sizeof(raw), 0) != sizeof(raw)) {
        /* Not expected on Linux >= 3.17; GLib's PRNG is seeded from it. */
        for (i = 0; i < sizeof(raw); i++) {
            raw[i] = g_random_int_range(0, 256);
        }
    }
    for (i = 0; i < sizeof(raw); i++) {
        g_snprintf(out + 2 * i, 3, "%02x", raw[i]);
    }
}

/* A device of the VM being started, as lifecycle_launch needs it. */
typedef struct LifecycleDev {
    const char *name;
    const char *model;
    const char *server;         /* NULL: not pinned */
    const char *restart;
    const char *via;            /* NULL: no owner server */
    bool console;               /* its model has a "console" property */
    char *props;                /* JSON object of strings */
} LifecycleDev;

static void lifecycle_dev_clear(gpointer p)
{
    LifecycleDev *d = p;

    g_free(d->props);
}

/* Launch one device and record its placement; add its owner's route. */
static bool lifecycle_launch(OrchRequest *r, OrchVm *vm, LifecycleDev *d,
                             GError **errp)
{
    g_autofree char *instance = g_uuid_string_random();
    OrchServerChoice s = { 0 };
    char token[33];
    g_autofree char *pinned = g_strdup(d->server);
    bool ok;

    if (!orch_place_paired(r->db, vm->name, d->name, d->model, &pinned,
                           errp) ||
        !orch_place_device(r->db, vm->name, d->name, d->model, pinned,
                           &s, errp)) {
        return false;
    }
    lifecycle_token(token);
    ok = orch_launch_instance(&r->undo, vm->uuid, &s, instance,
                              d->model, d->props, d->restart, d->console,
                              token, errp);
    orch_server_choice_clear(&s);
    if (ok && d->via) {
        ok = orch_route_add(r->db, &r->undo, vm->name, vm->uuid, d->name,
                            d->via, instance, errp);
    }
    return ok;
}

/*
 * The devices are read first (the VM's document): no statement may be
 * left mid-way while a launcher is called (another request may use the
 * connection then).
 */
static bool lifecycle_launch_all(OrchRequest *r, OrchVm *vm, GError **errp)
{
    g_autoptr(GArray) devs = g_array_new(FALSE, TRUE, sizeof(LifecycleDev));
    g_autoptr(JsonObject) doc = orch_rec_vm(r->db, vm->name);
    JsonArray *a;
    guint i;

    if (!doc) {
        orch_error_internal(errp, ENOENT);
        return false;
    }
    g_array_set_clear_func(devs, lifecycle_dev_clear);
    a = json_object_get_array_member(doc, "devices");
    for (i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        JsonNode *props = json_object_get_member(o, "props");
        LifecycleDev d = {
            .server = orch_rec_str(o, "server"),
            .name = orch_rec_str(o, "name"),
            .model = orch_rec_str(o, "model"),
            .restart = orch_rec_str(o, "restart"),
            .via = orch_rec_str(o, "via"),
            .console = json_object_get_boolean_member_with_default(
                o, "console", FALSE),
            .props = props && !JSON_NODE_HOLDS_NULL(props) ?
                json_to_string(props, FALSE) : NULL,
        };

        g_array_append_val(devs, d);
    }
    for (i = 0; i < devs->len; i++) {
        if (!lifecycle_launch(r, vm, &g_array_index(devs, LifecycleDev, i),
                              errp)) {
            return false;
        }
    }
    return true;
}

int orch_vm_start(OrchRequest *r)
{
    static const char *const ok[] = { "defined", "stopped", NULL };
    g_auto(OrchVm) vm = { 0 };
    g_auto(OrchClientChoice) c = { 0 };
    g_autoptr(GError) err = NULL;
    const char *client = NULL;

    if (!orch_vm_load(r->db, r->seg[1], &vm, &err)) {
        return orch_fail_error(r, err);
    }
    if (strcmp(vm.state, "saved") == 0) {
        return orch_fail(r, 409, "cannot start VM '%s': it is saved "
                         "(restore it, or stop it to start afresh)",
                         vm.name);
    }
    /*
     * A named client is checked first; any other waits for the models:
     * those served over TLS need a client with the credentials.
     */
    if (!orch_vm_expect_state(&vm, "start", ok, &err)) {
        return orch_fail_error(r, err);
    }
    if (orch_body_str(r, r->body, "client", false, &client) < 0) {
        return -EINVAL;
    }
    if (client && !orch_place_vm(r->db, client, false, &c, &err)) {
        return orch_fail_error(r, err);
    }
    /*
     * The placements are committed as they are claimed, before each
     * launch, so that other starts meanwhile count the slot and a slow
     * launcher does not hold the others; a failed start releases them
     * again (orch_launch_instance, orch_request_claim_now).
     */
    if (!lifecycle_launch_all(r, &vm, &err) ||
        (!client && !orch_place_vm(r->db, NULL,
                                   orch_vm_needs_model_tls(r->db, vm.name),
                                   &c, &err)) ||
        !orch_start_qemu(r->db, &r->undo, &vm, c.name, c.address,
                         c.hypervisor, NULL, &err) ||
        !orch_vm_write(r->db, vm.name, &err, "state", "running", "client",
                       c.name, "hypervisor", c.hypervisor, NULL)) {
        return orch_fail_error(r, err);
    }
    orch_event(vm.name, "started on %s", c.name);
    orch_reply_object(r, 200, orch_vm_object(r->db, vm.name));
    return 0;
}

/* Whether the client launcher still reports the VM's QEMU running. */
static bool lifecycle_qemu_running(const char *address, const char *vm)
{
    g_autofree char *path = g_strconcat("/v1/vms/", vm, NULL);
    g_autoptr(JsonNode) reply = NULL;
    guint status = 0;
    JsonNode *state;

    if (!orch_launcher_call(address, "GET", path, NULL, &status, &reply,
                            NULL) || status != 200 || !reply ||
        !JSON_NODE_HOLDS_OBJECT(reply)) {
        return false;
    }
    state = json_object_get_member(json_node_get_object(reply), "state");
    return state && JSON_NODE_HOLDS_VALUE(state) &&
           json_node_get_value_type(state) == G_TYPE_STRING &&
           strcmp(json_node_get_string(state), "running") == 0;
}

/* Power the guest down, wait up to @timeout s, then make sure. */
static void lifecycle_stop_qemu(OrchVm *vm, gint64 timeout)
{
    OrchUndo quit = { 0 };
    g_autofree char *path = g_strconcat("/v1/vms/", vm->name, NULL);
    gint64 deadline = g_get_monotonic_time() + timeout * G_USEC_PER_SEC;

    if (!vm->client_address) {
        return;
    }
    if (strcmp(vm->state, "running") == 0 &&
        orch_qmp(vm->client_address, vm->name, "system_powerdown", NULL,
                 NULL, NULL)) {
        while (lifecycle_qemu_running(vm->client_address, vm->name) &&
               g_get_monotonic_time() < deadline) {
            g_usleep(STOP_POLL_US);
        }
    }
    if (lifecycle_qemu_running(vm->client_address, vm->name)) {
        orch_qmp(vm->client_address, vm->name, "quit", NULL, NULL, NULL);
    }
    orch_undo_add(&quit, vm->client_address, path);
    orch_undo_run(&quit);
}

int orch_vm_stop(OrchRequest *r)
{
    static const char *const ok[] = { "running", "suspended", "saved",
                                      NULL };
    g_auto(OrchVm) vm = { 0 };
    g_autoptr(GError) err = NULL;
    gint64 timeout = 30;

    if (!orch_vm_load(r->db, r->seg[1], &vm, &err) ||
        !orch_vm_expect_state(&vm, "stop", ok, &err)) {
        return orch_fail_error(r, err);
    }
    if (orch_body_int(r, r->body, "timeout", false, &timeout) < 0) {
        return -EINVAL;
    }
    if (timeout < 0 || timeout > 3600) {
        return orch_fail(r, 400, "'timeout' must be 0 to 3600 seconds");
    }
    /*
     * Stopping is best effort: a dead launcher or QEMU must not keep the
     * VM "running" in our books forever.  Failures are logged.
     */
    if (strcmp(vm.state, "saved") != 0) {
        lifecycle_stop_qemu(&vm, timeout);
    }
    /* Its QEMU is gone: a conflict at the commit writes "stopped" again. */
    orch_vm_redo_teardown(r, vm.name);
    if (!orch_vm_teardown(r->db, vm.name, &err)) {
        return orch_fail_error(r, err);
    }
    orch_event(vm.name, "stopped");
    orch_reply_object(r, 200, orch_vm_object(r->db, vm.name));
    return 0;
}

/* suspend and resume: one QMP command and a state change. */
static int lifecycle_pause(OrchRequest *r, const char *action,
                           const char *from, const char *cmd,
                           const char *to)
{
    const char *ok[] = { from, NULL };
    g_auto(OrchVm) vm = { 0 };
    g_autoptr(GError) err = NULL;

    if (!orch_vm_load(r->db, r->seg[1], &vm, &err) ||
        !orch_vm_expect_state(&vm, action, ok, &err) ||
        !orch_qmp(vm.client_address, vm.name, cmd, NULL, NULL, &err)) {
        return orch_fail_error(r, err);
    }
    /* QEMU obeyed: a conflict at the commit writes the state again. */
    orch_vm_redo_members(r, vm.name, "state", to, NULL);
    if (!orch_vm_write(r->db, vm.name, &err, "state", to, NULL)) {
        return orch_fail_error(r, err);
    }
    orch_event(vm.name, "%s", to);
    orch_reply_object(r, 200, orch_vm_object(r->db, vm.name));
    return 0;
}

int orch_vm_suspend(OrchRequest *r)
{
    return lifecycle_pause(r, "suspend", "running", "stop", "suspended");
}

int orch_vm_resume(OrchRequest *r)
{
    return lifecycle_pause(r, "resume", "suspended", "cont", "running");
}

/*
 * A device's link (a network card's cable): QMP's set_link on its
 * proxy, whose id is the device's name (qemu-args.c).  The model says
 * whether it has a link at all.
 */
int orch_vm_device_link(OrchRequest *r)
{
    static const char *const ok[] = { "running", "suspended", NULL };
    const char *dev = r->seg[3];
    g_auto(OrchVm) vm = { 0 };
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(JsonObject) doc = NULL;
    gboolean up;

    if (orch_check_name(r, "device", dev) < 0) {
        return -EINVAL;
    }
    if (!r->body || !json_object_has_member(r->body, "up") ||
        json_node_get_value_type(json_object_get_member(r->body, "up")) !=
        G_TYPE_BOOLEAN) {
        return orch_fail(r, 400, "the body must have 'up', a boolean");
    }
    up = json_object_get_boolean_member(r->body, "up");
    if (!orch_vm_load(r->db, r->seg[1], &vm, &err) ||
        !orch_vm_expect_state(&vm, "set the link of", ok, &err)) {
        return orch_fail_error(r, err);
    }
    doc = orch_rec_vm(r->db, vm.name);
    if (!orch_rec_device(doc, dev)) {
        return orch_fail(r, 404, "VM '%s' has no device '%s'", vm.name, dev);
    }
    json_object_set_string_member(args, "name", dev);
    json_object_set_boolean_member(args, "up", up);
    if (!orch_qmp(vm.client_address, vm.name, "set_link", args, NULL,
                  &err)) {
        return orch_fail_error(r, err);
    }
    orch_event(vm.name, "device %s: link %s", dev,
               up ? "up" : "down");
    orch_reply_object(r, 200, orch_vm_object(r->db, vm.name));
    return 0;
}
