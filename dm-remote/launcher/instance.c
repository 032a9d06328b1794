/*
 * One device-model instance: launch, readiness, death, restart, stop.
 *
 * All of it runs in the daemon's main loop.  An instance is in
 * s->instances while the API knows it; once forgotten (DELETE, failed
 * launch, shutdown) it lives on only until its process is reaped.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vup/caps.h"

#include "instance.h"
#include "model-props.h"
#include "log.h"
#include "record.h"
#include "server.h"
#include "tap.h"

#define DM_START_TIMEOUT_MS 5000
#define DM_RESTART_DELAY_MS 200

const char *const dm_bind_names[DM_BIND_COUNT] = {
    "vm", "hypervisor", "client_platform", "device_model", "server_platform",
};

static const char *const bind_options[DM_BIND_COUNT] = {
    "--bind-vm=", "--bind-hypervisor=", "--bind-client-platform=",
    "--bind-device-model=", "--bind-server-platform=",
};

static const char *const state_names[] = {
    [DM_INST_STARTING] = "starting",
    [DM_INST_RUNNING] = "running",
    [DM_INST_EXITED] = "exited",
    [DM_INST_RESTARTING] = "restarting",
    [DM_INST_STOPPED] = "stopped",
};

static const DmChildOps instance_ops;

static DmInstance *instance_of(DmChild *c)
{
    return (DmInstance *)((char *)c - offsetof(DmInstance, child));
}

DmInstance *dm_instance_new(DmServer *s, const char *id,
                            const DmModel *model)
{
    DmInstance *inst = g_new0(DmInstance, 1);

    /* A directory each: no id's file name can be another's. */
    dm_child_init(&inst->child, s->l, &instance_ops, id,
                  dm_child_dir(s->l, "instances", id), s->instances,
                  DM_START_TIMEOUT_MS);
    inst->s = s;
    inst->model = model;
    inst->what = model ? model->name : "child";
    inst->state = DM_INST_STARTING;
    return inst;
}

DmInstance *dm_instance_new_internal(DmServer *s, const char *id,
                                     const char *what, char **args,
                                     DmInstanceWatchFn *watch,
                                     void *opaque)
{
    DmInstance *inst = dm_instance_new(s, id, NULL);

    inst->what = what;
    dm_child_set_dir(&inst->child, dm_child_dir(s->l, id, NULL));
    inst->child.table = NULL;
    inst->args = g_strdupv(args);
    inst->internal = true;
    inst->watch = watch;
    inst->watch_opaque = opaque;
    return inst;
}

static void instance_notify(DmInstance *inst, bool gone)
{
    if (inst->watch) {
        inst->watch(inst, gone, inst->watch_opaque);
    }
}

void dm_instance_free(DmInstance *inst)
{
    unsigned i;

    dm_child_clear(&inst->child);
    for (i = 0; i < DM_BIND_COUNT; i++) {
        g_free(inst->bind[i]);
    }
    g_strfreev(inst->args);
    g_free(inst->address);
    g_free(inst->sock_path);
    g_free(inst->console_path);
    g_free(inst->input_path);
    g_free(inst->vnc);
    g_free(inst->vnc_path);
    g_free(inst->vnc_password_path);
    g_free(inst->keyboard_link);
    g_free(inst->tablet_link);
    g_free(inst->token_path);
    g_free(inst->tap);
    g_clear_pointer(&inst->props, json_object_unref);
    g_free(inst);
}

/*
 * Whether the model's sessions are TLS: TCP under --model-tls-creds.  A
 * UNIX socket stays plain (same host, guarded by its file mode).
 */
bool dm_instance_tls(DmInstance *inst)
{
    return !inst->internal && inst->tcp &&
           inst->child.l->model_tls_creds != NULL;
}

JsonObject *dm_instance_json(DmInstance *inst)
{
    JsonObject *o = json_object_new();
    JsonObject *bind = json_object_new();
    unsigned i;

    json_object_set_string_member(o, "id", inst->child.id);
    json_object_set_string_member(o, "model", inst->what);
    json_object_set_string_member(o, "state", state_names[inst->state]);
    if (inst->child.proc.pid) {
        json_object_set_int_member(o, "pid", inst->child.proc.pid);
    } else {
        json_object_set_null_member(o, "pid");
    }
    json_object_set_string_member(o, "address", inst->address);
    if (!inst->internal) {
        json_object_set_boolean_member(o, "tls", dm_instance_tls(inst));
    }
    if (inst->console_path) {
        g_autofree char *c = g_strdup_printf("unix:%s", inst->console_path);

        json_object_set_string_member(o, "console", c);
    } else {
        json_object_set_null_member(o, "console");
    }
    if (inst->input_path) {
        g_autofree char *in = g_strdup_printf("unix:%s", inst->input_path);

        json_object_set_string_member(o, "input", in);
    }
    if (inst->vnc) {
        g_autofree char *password = dm_instance_vnc_password(inst);

        /* Only an authenticated caller gets here (docs/launcher.md). */
        json_object_set_string_member(o, "vnc", inst->vnc);
        json_object_set_string_member(o, "vnc_password", password);
    }
    if (inst->tap) {
        json_object_set_string_member(o, "tap", inst->tap);
    }
    json_object_set_string_member(o, "restart", inst->restart_always ?
                                  "always" : inst->restart_on_failure ?
                                  "on-failure" : "never");
    json_object_set_int_member(o, "restarts", inst->child.restarts);
    json_object_set_member(o, "exit",
                           dm_proc_exit_json(inst->child.exited,
                                             inst->child.status));
    for (i = 0; i < DM_BIND_COUNT; i++) {
        if (inst->bind[i]) {
            json_object_set_string_member(bind, dm_bind_names[i],
                                          inst->bind[i]);
        }
    }
    json_object_set_object_member(o, "bind", bind);
    if (inst->props) {
        json_object_set_object_member(o, "props",
                                      json_object_ref(inst->props));
    }
    return o;
}

static void instance_remove_sockets(DmInstance *inst)
{
    if (inst->sock_path) {
        unlink(inst->sock_path);
    }
    if (inst->console_path) {
        unlink(inst->console_path);
    }
    if (inst->input_path) {
        unlink(inst->input_path);
    }
    if (inst->vnc_path) {
        unlink(inst->vnc_path);
    }
}

/*
 * Sockets, token, tap and record go with the instance; the log stays.
 * The tap outlives the model's crashes and restarts (it is persistent)
 * but not the instance: a DELETE, a failed launch, a record found
 * without its process at the launcher's restart.
 */
static void instance_remove_files(DmInstance *inst)
{
    instance_remove_sockets(inst);
    if (inst->token_path) {
        unlink(inst->token_path);
    }
    /* A display's links outlive its restarts, not the instance. */
    if (inst->vnc_password_path) {
        unlink(inst->vnc_password_path);
    }
    if (inst->keyboard_link) {
        unlink(inst->keyboard_link);
    }
    if (inst->tablet_link) {
        unlink(inst->tablet_link);
    }
    if (inst->tap) {
        dm_tap_delete(inst->tap);
    }
    dm_record_remove(inst->child.dir);
}

static void instance_child_remove_files(DmChild *c)
{
    instance_remove_files(instance_of(c));
}

void dm_instance_write_record(DmInstance *inst)
{
    JsonObject *o = json_object_new();
    JsonObject *bind = json_object_new();
    g_autofree char *err = NULL;
    unsigned i;

    if (!inst->child.proc.pid) {
        json_object_unref(o);
        json_object_unref(bind);
        return;
    }
    json_object_set_string_member(o, "model", inst->what);
    json_object_set_boolean_member(o, "tcp", inst->tcp);
    json_object_set_int_member(o, "port", inst->port);
    json_object_set_boolean_member(o, "console", inst->console_path != NULL);
    json_object_set_boolean_member(o, "token", inst->token_path != NULL);
    if (inst->vnc) {
        json_object_set_int_member(o, "vnc_port", inst->vnc_port);
    }
    json_object_set_string_member(o, "restart", inst->restart_on_failure ?
                                  "on-failure" : "never");
    json_object_set_int_member(o, "restarts", inst->child.restarts);
    for (i = 0; i < DM_BIND_COUNT; i++) {
        if (inst->bind[i]) {
            json_object_set_string_member(bind, dm_bind_names[i],
                                          inst->bind[i]);
        }
    }
    json_object_set_object_member(o, "bind", bind);
    if (inst->props) {
        json_object_set_object_member(o, "props",
                                      json_object_ref(inst->props));
    }
    if (inst->record_extra) {
        inst->record_extra(inst, o);
    }
    if (dm_record_write(inst->child.dir,
                        inst->internal ? inst->what : "instance",
                        inst->child.id, &inst->child.proc, o, &err) < 0) {
        dm_warn("instance %s (%s): %s; a launcher restarted after a crash "
                "will not adopt it", inst->child.id, inst->what, err);
    }
}

/* Gone: the watcher is told, then the instance freed. */
static void instance_child_free(DmChild *c)
{
    DmInstance *inst = instance_of(c);

    instance_notify(inst, true);
    dm_instance_free(inst);
}

static JsonObject *instance_child_json(DmChild *c)
{
    return dm_instance_json(instance_of(c));
}

static int instance_probe(DmChild *c)
{
    DmInstance *inst = instance_of(c);
    struct sockaddr_storage ss;
    struct stat st;

    if (!inst->tcp) {
        return lstat(inst->sock_path, &st) == 0 && S_ISSOCK(st.st_mode);
    }
    ss = inst->s->model_addr;
    if (ss.ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons(inst->port);
    } else {
        ((struct sockaddr_in *)&ss)->sin_port = htons(inst->port);
    }
    return dm_probe_connect((struct sockaddr *)&ss, inst->s->model_addrlen);
}

static void instance_ready(DmChild *c, int ret)
{
    DmInstance *inst = instance_of(c);
    g_autofree char *why = NULL;

    if (ret == 0) {
        /*
         * The model made its sockets under our umask 077, in a 0700
         * directory; 0600 says so plainly (a socket's x bits mean nothing).
         */
        if (inst->sock_path) {
            chmod(inst->sock_path, 0600);
        }
        if (inst->console_path) {
            chmod(inst->console_path, 0600);
        }
        if (inst->vnc_path) {
            chmod(inst->vnc_path, 0600);
        }
        inst->state = DM_INST_RUNNING;
        dm_info("instance %s (%s) running at %s, pid %d", c->id,
                inst->what, inst->address, c->proc.pid);
        dm_child_answer(c, SOUP_STATUS_CREATED, dm_instance_json(inst));
        instance_notify(inst, false);
        return;
    }
    /* Alive but deaf: a restart is retried by the exit path. */
    dm_error("instance %s (%s) did not accept connections at %s within "
             "%d s", c->id, inst->what, inst->address,
             DM_START_TIMEOUT_MS / 1000);
    if (inst->state != DM_INST_STARTING) {
        dm_proc_terminate(&c->proc);
        return;
    }
    why = g_strdup_printf("model did not accept connections at %s within "
                          "%d s", inst->address, DM_START_TIMEOUT_MS / 1000);
    dm_child_start_failed(c, why, "its log ends");
}

static int instance_spawn_argv(DmInstance *inst, GPtrArray *argv,
                               char **ret_err)
{
    int ret;

    /* A socket left by a predecessor killed outright would look ready. */
    instance_remove_sockets(inst);
    ret = dm_child_spawn(&inst->child, (char **)argv->pdata, ret_err);
    if (ret < 0) {
        return ret;
    }
    dm_instance_write_record(inst);
    return 0;
}

/* What the launcher gives a model itself: its input link, its VNC. */
static char *instance_spec(DmInstance *inst)
{
    g_autofree char *props = dm_model_props_spec(inst->model,
                                                 inst->s->images_dir,
                                                 inst->props);
    GString *spec = g_string_new(props);

    if (inst->input_path) {
        g_autofree char *a = g_strconcat("unix:", inst->input_path, NULL);

        dm_model_props_spec_add(spec, "input", a);
    }
    if (inst->vnc) {
        g_autofree char *kbd = g_strconcat("unix:", inst->keyboard_link,
                                           NULL);
        g_autofree char *tab = g_strconcat("unix:", inst->tablet_link, NULL);

        dm_model_props_spec_add(spec, "vnc", inst->vnc);
        dm_model_props_spec_add(spec, "vnc-password-file", inst->vnc_password_path);
        dm_model_props_spec_add(spec, "keyboard", kbd);
        dm_model_props_spec_add(spec, "tablet", tab);
    }
    if (inst->tap) {
        dm_model_props_spec_add(spec, "tap", inst->tap);
    }
    return g_string_free(spec, FALSE);
}

static int instance_spawn(DmInstance *inst, char **ret_err)
{
    DmLauncher *l = inst->child.l;
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *spec = NULL;
    unsigned i;

    g_ptr_array_add(argv, g_strdup(l->self_exe));
    if (inst->args) {
        for (i = 0; inst->args[i]; i++) {
            g_ptr_array_add(argv, g_strdup(inst->args[i]));
        }
        g_ptr_array_add(argv, NULL);
        return instance_spawn_argv(inst, argv, ret_err);
    }
    g_ptr_array_add(argv, g_strdup("serve"));
    spec = instance_spec(inst);
    g_ptr_array_add(argv, g_strdup_printf("--model=%s", spec));
    if (inst->model->save) {
        /* A restart after a crash finds the device as it was. */
        g_ptr_array_add(argv, g_strconcat("--state-file=", inst->child.dir,
                                          "/state", NULL));
    }
    g_ptr_array_add(argv, g_strdup_printf("--listen=%s", inst->address));
    g_ptr_array_add(argv, g_strdup("-q"));
    for (i = 0; i < DM_BIND_COUNT; i++) {
        if (inst->bind[i]) {
            g_ptr_array_add(argv, g_strconcat(bind_options[i], inst->bind[i],
                                              NULL));
        }
    }
    if (inst->token_path) {
        g_ptr_array_add(argv, g_strconcat("--token-file=", inst->token_path,
                                          NULL));
    }
    if (inst->console_path) {
        g_ptr_array_add(argv, g_strconcat("--console=unix:",
                                          inst->console_path, NULL));
    }
    if (dm_instance_tls(inst)) {
        g_ptr_array_add(argv, g_strconcat("--tls-creds=",
                                          l->model_tls_creds, NULL));
    }
    g_ptr_array_add(argv, NULL);
    return instance_spawn_argv(inst, argv, ret_err);
}

int dm_instance_set_token(DmInstance *inst, const char *token,
                          char **ret_err)
{
    g_autofree char *path = g_build_filename(inst->child.dir, "token", NULL);
    g_autofree char *line = g_strconcat(token, "\n", NULL);
    size_t len = strlen(line);
    int fd, ret = 0;

    ret = dm_dir_make_private(inst->child.dir, ret_err);
    if (ret < 0) {
        return ret;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd < 0) {
        ret = -errno;
        *ret_err = g_strdup_printf("cannot write %s: %s", path,
                                   g_strerror(errno));
        return ret;
    }
    /* An older file keeps its mode across O_TRUNC: tighten it. */
    if (fchmod(fd, 0600) < 0 || write(fd, line, len) != (ssize_t)len) {
        ret = errno ? -errno : -EIO;
        *ret_err = g_strdup_printf("cannot write %s: %s", path,
                                   g_strerror(-ret));
        close(fd);
        unlink(path);
        return ret;
    }
    close(fd);
    inst->token_path = g_steal_pointer(&path);
    return 0;
}

int dm_instance_launch(DmInstance *inst, SoupServerMessage *msg,
                       char **ret_err)
{
    int ret;

    dm_child_list(&inst->child);
    ret = instance_spawn(inst, ret_err);
    if (ret < 0) {
        dm_child_unlist(&inst->child);
        instance_remove_files(inst);
        dm_instance_free(inst);
        return ret;
    }
    dm_child_defer(&inst->child, msg);
    return 0;
}

int dm_instance_respawn(DmInstance *inst, char **ret_err)
{
    int ret;

    if (inst->child.proc.pid || dm_child_restarting(&inst->child) ||
        inst->child.forgotten) {
        return 0;               /* running, or on its way back or out */
    }
    dm_child_restart_fresh(&inst->child);
    inst->state = DM_INST_RESTARTING;
    ret = instance_spawn(inst, ret_err);
    if (ret < 0) {
        inst->state = DM_INST_EXITED;
        return ret;
    }
    dm_info("instance %s (%s) relaunched, pid %d", inst->child.id,
            inst->what, inst->child.proc.pid);
    return 0;
}

/* ops->restart, after the delay (the restart is counted). */
static void instance_restart(DmChild *c)
{
    DmInstance *inst = instance_of(c);
    g_autofree char *err = NULL;

    if (instance_spawn(inst, &err) < 0) {
        dm_error("instance %s (%s): restart failed: %s", c->id,
                 inst->what, err);
        inst->state = DM_INST_EXITED;
        instance_notify(inst, false);
        return;
    }
    dm_info("instance %s (%s) restarted (%u), pid %d", c->id,
            inst->what, c->restarts, c->proc.pid);
}

void dm_instance_set_port(DmInstance *inst, unsigned port)
{
    const char *host = inst->s->model_host;

    inst->port = port;
    g_free(inst->address);
    inst->address = g_strdup_printf(strchr(host, ':') ? "tcp:[%s]:%u"
                                                      : "tcp:%s:%u",
                                    host, port);
}

/* Other ports a start may try, its first taken (instance_start_elsewhere). */
#define DM_PORT_TRIES 3

/*
 * A model starting that exited because its port was taken after we
 * found it free (an outgoing connection given it from the ephemeral
 * range, docs/scale-out.md): started again on another port of the
 * range, up to DM_PORT_TRIES times.  Whether it was (true: the start
 * goes on, or has failed and was answered).
 */
static bool instance_start_elsewhere(DmInstance *inst)
{
    DmChild *c = &inst->child;
    g_autofree char *err = NULL;
    unsigned taken = inst->port, port;

    if (!inst->tcp || inst->args || !WIFEXITED(c->status) ||
        WEXITSTATUS(c->status) != DM_EXIT_ADDR_IN_USE ||
        inst->port_tries >= DM_PORT_TRIES || !inst->s->pick_port ||
        inst->s->pick_port(inst->s, &port) < 0) {
        return false;
    }
    inst->port_tries++;
    dm_instance_set_port(inst, port);
    dm_warn("instance %s (%s): port %u was taken before the model could "
            "listen on it; starting it on %u", c->id, inst->what, taken,
            port);
    if (instance_spawn(inst, &err) < 0) {
        dm_child_start_failed(c, err, "the log of its last start ends");
    }
    return true;
}

static void instance_exited(DmChild *c)
{
    DmInstance *inst = instance_of(c);
    g_autofree char *text = dm_proc_exit_text(c->status);
    bool failed = !WIFEXITED(c->status) || WEXITSTATUS(c->status) != 0;

    if (inst->state == DM_INST_STARTING && instance_start_elsewhere(inst)) {
        return;
    }
    if (inst->state == DM_INST_STARTING) {
        g_autofree char *why = g_strdup_printf("model %s during start-up",
                                               text);

        dm_error("instance %s (%s) failed to start: %s", c->id,
                 inst->what, text);
        dm_child_start_failed(c, why, "its log ends");
        return;
    }
    dm_warn("instance %s (%s) died: %s", c->id, inst->what, text);
    inst->state = DM_INST_EXITED;
    if (!inst->restart_always && (!inst->restart_on_failure || !failed)) {
        instance_notify(inst, false);
        return;
    }
    if (!dm_child_may_restart(c)) {
        dm_error("instance %s (%s): %d restarts within %d s, giving up",
                 c->id, inst->what, DM_RESTART_MAX,
                 (int)(DM_RESTART_WINDOW_US / G_USEC_PER_SEC));
        instance_notify(inst, false);
        return;
    }
    inst->state = DM_INST_RESTARTING;
    dm_child_restart_later(c, DM_RESTART_DELAY_MS);
    instance_notify(inst, false);
}

static const DmChildOps instance_ops = {
    .probe = instance_probe,
    .ready = instance_ready,
    .exited = instance_exited,
    .restart = instance_restart,
    .remove_files = instance_child_remove_files,
    .json = instance_child_json,
    .free = instance_child_free,
};

void dm_instance_stop(DmInstance *inst, SoupServerMessage *msg)
{
    inst->state = DM_INST_STOPPED;
    dm_child_stop(&inst->child, msg, "instance");
}

/* The members of an instance's record; false if one is bad. */
static bool instance_from_record(DmInstance *inst, JsonObject *rec)
{
    DmServer *s = inst->s;
    JsonNode *n = json_object_get_member(rec, "bind");
    unsigned i;

    inst->tcp = dm_record_bool(rec, "tcp");
    if (inst->tcp) {
        unsigned port = dm_record_int(rec, "port", 1, 65535, 0);

        if (!port) {
            return false;
        }
        dm_instance_set_port(inst, port);   /* the router's replaced */
    } else {
        inst->sock_path = g_build_filename(inst->child.dir, "sock", NULL);
        inst->address = g_strdup_printf("unix:%s", inst->sock_path);
    }
    if (inst->internal) {
        return inst->tcp;
    }
    dm_instance_set_input(inst);
    if (dm_model_find_prop(inst->model, "vnc")) {
        unsigned port = dm_record_int(rec, "vnc_port", 0, 65535, 0);

        dm_instance_set_vnc(inst, port);
    }
    if (dm_record_bool(rec, "console")) {
        inst->console_path = g_build_filename(inst->child.dir, "console",
                                              NULL);
    }
    if (dm_record_bool(rec, "token")) {
        inst->token_path = g_build_filename(inst->child.dir, "token", NULL);
    }
    if (inst->model && json_object_has_member(rec, "props")) {
        g_autofree char *err = NULL;
        unsigned status;

        inst->props = dm_model_props_check(inst->model, s->images_dir,
                                           json_object_get_member(rec,
                                                                  "props"),
                                           &status, &err);
        if (!inst->props) {
            dm_warn("instance %s: %s", inst->child.id, err);
            return false;
        }
        dm_instance_set_tap(inst);
    }
    inst->restart_on_failure = g_strcmp0(dm_record_string(rec, "restart"),
                                         "on-failure") == 0;
    inst->child.restarts = dm_record_int(rec, "restarts", 0, G_MAXUINT32,
                                         0);
    if (n && JSON_NODE_HOLDS_OBJECT(n)) {
        for (i = 0; i < DM_BIND_COUNT; i++) {
            const char *v = dm_record_string(json_node_get_object(n),
                                             dm_bind_names[i]);

            if (v && v[0] && strlen(v) <= VUP_ID_MAX) {
                inst->bind[i] = g_strdup(v);
            }
        }
    }
    return true;
}

int dm_instance_adopt(DmInstance *inst, JsonObject *rec, pid_t pid,
                      guint64 start)
{
    DmChild *c = &inst->child;
    int ret = -EINVAL;

    if (!instance_from_record(inst, rec) ||
        (ret = dm_child_adopt(c, pid, start)) < 0) {
        dm_info("%s %s: %s, its record removed", inst->what, c->id,
                ret == -EINVAL ? "a bad record" : "no longer running");
        instance_remove_files(inst);
        dm_instance_free(inst);
        return ret;
    }
    dm_child_list(c);
    dm_info("%s %s adopted at %s, pid %d", inst->what, c->id,
            inst->address, pid);
    /* Running once it answers; deaf, it is stopped and its policy applies. */
    inst->state = DM_INST_RESTARTING;
    dm_child_wait_ready(c);
    return 0;
}

void dm_instance_set_tap(DmInstance *inst)
{
    if (inst->props && json_object_has_member(inst->props, "bridge") &&
        !inst->tap) {
        inst->tap = dm_tap_name(inst->child.id);
    }
}

void dm_instance_set_input(DmInstance *inst)
{
    if (inst->model && !inst->input_path &&
        dm_model_find_prop(inst->model, "input")) {
        inst->input_path = g_build_filename(inst->child.dir, "input", NULL);
    }
}

void dm_instance_set_vnc(DmInstance *inst, unsigned port)
{
    const char *dir = inst->child.dir;

    inst->vnc_port = port;
    if (port) {
        bool v6 = strchr(inst->s->vnc_host, ':') != NULL;

        inst->vnc = g_strdup_printf(v6 ? "tcp:[%s]:%u" : "tcp:%s:%u",
                                    inst->s->vnc_host, port);
    } else {
        inst->vnc_path = g_build_filename(dir, "vnc", NULL);
        inst->vnc = g_strconcat("unix:", inst->vnc_path, NULL);
    }
    inst->vnc_password_path = g_build_filename(dir, "vnc-password", NULL);
    inst->keyboard_link = g_build_filename(dir, "keyboard", NULL);
    inst->tablet_link = g_build_filename(dir, "tablet", NULL);
}

int dm_instance_make_vnc_password(DmInstance *inst, char **ret_err)
{
    /* VNC authentication reads 8 characters: 8 of 62, about 47 bits. */
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "abcdefghijklmnopqrstuvwxyz0123456789";
    uint8_t rnd[8];
    char line[sizeof(rnd) + 2];
    int fd, ret;

    if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
        *ret_err = g_strdup_printf("no random bytes: %s", g_strerror(errno));
        return -EIO;
    }
    for (size_t i = 0; i < sizeof(rnd); i++) {
        /* 256 % 62 leaves a small bias; no matter for 8 characters. */
        line[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
    }
    line[sizeof(rnd)] = '\n';
    line[sizeof(rnd) + 1] = '\0';
    ret = dm_dir_make_private(inst->child.dir, ret_err);
    if (ret < 0) {
        return ret;
    }
    fd = open(inst->vnc_password_path,
              O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || fchmod(fd, 0600) < 0 ||
        write(fd, line, sizeof(rnd) + 1) != sizeof(rnd) + 1) {
        ret = errno ? -errno : -EIO;
        *ret_err = g_strdup_printf("cannot write %s: %s",
                                   inst->vnc_password_path,
                                   g_strerror(-ret));
        if (fd >= 0) {
            close(fd);
            unlink(inst->vnc_password_path);
        }
        return ret;
    }
    close(fd);
    return 0;
}

char *dm_instance_vnc_password(DmInstance *inst)
{
    char *text = NULL;

    if (!inst->vnc_password_path ||
        !g_file_get_contents(inst->vnc_password_path, &text, NULL, NULL)) {
        return NULL;
    }
    text[strcspn(text, "\r\n")] = '\0';
    return text;
}
