/*
 * A QMP client for the relay.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>

#include "json-http.h"
#include "line-reader.h"
#include "log.h"
#include "proc.h"
#include "qmp.h"

#define DM_QMP_TIMEOUT_S 30
#define DM_QMP_EVENTS_MAX 100
/*
 * Deeper than the API's DM_JSON_MAX_DEPTH: a reply describes a disk's
 * whole backing chain, two levels per image.  QEMU's own reader takes
 * no deeper (json-streamer.c's MAX_NESTING); json-glib recurses well
 * within the stack there.
 */
#define DM_QMP_MAX_DEPTH 1024
/*
 * The longest line read from QMP, before anything else is looked at: a
 * peer that never sends a newline (a broken QEMU, or anything at that
 * socket) must not make us hold all it sends.  The largest reply the
 * relay passes is query-qmp-schema's, 230 KiB from this fork's
 * qemu-system-x86_64 (query-machines 27 KiB, query-remote-devices or
 * query-named-block-nodes a few KiB a device): 4 times over.  The
 * orchestrator reads a launcher's answer up to 4 MiB, so whatever fits
 * here fits there.
 */
#define DM_QMP_MAX_LINE (1024 * 1024)
#define DM_QMP_CAPS_TAG "dm-capabilities"

typedef struct DmQmpCall {
    DmQmp *q;
    char *tag;                  /* our "id" */
    char *line;                 /* the command, newline-terminated */
    JsonNode *user_id;          /* the caller's "id", or NULL */
    DmQmpReplyFn *cb;
    void *opaque;
    guint timer;
} DmQmpCall;

struct DmQmp {
    char *path;
    GSocketConnection *conn;    /* NULL: not connected */
    DmLineReader *in;
    GCancellable *cancel;
    bool greeted;               /* capabilities sent */
    GQueue unsent;              /* DmQmpCall, waiting for the greeting */
    GHashTable *calls;          /* tag -> DmQmpCall, sent or not */
    GQueue events;              /* JsonNode */
    uint64_t next_tag;
};

static void qmp_read_next(DmQmp *q);

static void qmp_call_finish(DmQmpCall *call, JsonNode *reply,
                            const char *error)
{
    DmQmp *q = call->q;

    g_hash_table_remove(q->calls, call->tag);
    g_queue_remove(&q->unsent, call);
    if (call->timer) {
        g_source_remove(call->timer);
    }
    call->cb(reply, error, call->opaque);
    if (call->user_id) {
        json_node_unref(call->user_id);
    }
    g_free(call->tag);
    g_free(call->line);
    g_free(call);
}

static void qmp_fail_all(DmQmp *q, const char *error)
{
    GList *all = g_hash_table_get_values(q->calls);
    GList *l;

    for (l = all; l; l = l->next) {
        qmp_call_finish(l->data, NULL, error);
    }
    g_list_free(all);
}

static void qmp_disconnect(DmQmp *q)
{
    if (q->cancel) {
        g_cancellable_cancel(q->cancel);
        g_clear_object(&q->cancel);
    }
    g_clear_pointer(&q->in, dm_line_reader_unref);
    if (q->conn) {
        g_io_stream_close(G_IO_STREAM(q->conn), NULL, NULL);
        g_clear_object(&q->conn);
    }
    q->greeted = false;
}

/* The stream cannot be trusted any more: drop it and every waiter. */
static void qmp_broken(DmQmp *q, const char *why)
{
    g_autofree char *error = g_strdup_printf("QMP connection lost: %s", why);

    qmp_disconnect(q);
    qmp_fail_all(q, error);
}

static int qmp_send(DmQmp *q, const char *line)
{
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(q->conn));
    g_autoptr(GError) error = NULL;

    /* A few hundred bytes into a local socket's buffer: no real wait. */
    if (!g_output_stream_write_all(out, line, strlen(line), NULL, NULL,
                                   &error)) {
        qmp_broken(q, error->message);
        return -EPIPE;
    }
    return 0;
}

static void qmp_greeted(DmQmp *q)
{
    DmQmpCall *call;

    q->greeted = true;
    if (qmp_send(q, "{\"execute\": \"qmp_capabilities\", \"id\": \""
                 DM_QMP_CAPS_TAG "\"}\n") < 0) {
        return;
    }
    while (q->conn && (call = g_queue_pop_head(&q->unsent))) {
        qmp_send(q, call->line);
    }
}

static void qmp_event(DmQmp *q, JsonNode *node)
{
    g_queue_push_tail(&q->events, json_node_ref(node));
    while (q->events.length > DM_QMP_EVENTS_MAX) {
        json_node_unref(g_queue_pop_head(&q->events));
    }
}

static void qmp_reply(DmQmp *q, JsonNode *node)
{
    JsonObject *o = json_node_get_object(node);
    JsonNode *id = json_object_get_member(o, "id");
    const char *tag = "";
    DmQmpCall *call;

    if (id && JSON_NODE_HOLDS_VALUE(id) &&
        json_node_get_value_type(id) == G_TYPE_STRING) {
        tag = json_node_get_string(id);
    }

    if (strcmp(tag, DM_QMP_CAPS_TAG) == 0) {
        if (json_object_has_member(o, "error")) {
            dm_warn("QMP %s: qmp_capabilities refused", q->path);
        }
        return;
    }
    call = g_hash_table_lookup(q->calls, tag);
    if (!call) {
        /* Timed out already; nobody is waiting for it. */
        dm_debug("QMP %s: reply to unknown id '%s', ignoring", q->path, tag);
        return;
    }
    json_object_remove_member(o, "id");
    if (call->user_id) {
        json_object_set_member(o, "id", json_node_ref(call->user_id));
    }
    qmp_call_finish(call, node, NULL);
}

/*
 * One line from QEMU.  QMP is one JSON object a line: anything else
 * means the stream is not QMP (or not QEMU's), and no reply in it can
 * be matched to its call any more: the stream is dropped, which tells
 * every waiter why at once rather than after the timeout.
 */
static void qmp_line(DmQmp *q, const char *line, gsize len)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *why = NULL;
    JsonObject *o;

    /* QEMU runs the guest's devices: a line nested too deep is refused. */
    root = dm_json_parse_peer(line, len, DM_QMP_MAX_DEPTH, &err);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        why = g_strdup_printf("a line refused (%s)", root ? "not a JSON "
                              "object" : err->message);
        dm_warn("QMP %s: %s, disconnecting", q->path, why);
        qmp_broken(q, why);
        return;
    }
    o = json_node_get_object(root);
    if (json_object_has_member(o, "QMP")) {
        qmp_greeted(q);
    } else if (json_object_has_member(o, "event")) {
        qmp_event(q, root);
    } else if (json_object_has_member(o, "return") ||
               json_object_has_member(o, "error")) {
        qmp_reply(q, root);
    }
}

static void qmp_line_ready(GObject *source, GAsyncResult *res,
                           gpointer opaque)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *line = NULL;
    DmQmp *q;
    gsize len;

    line = dm_line_reader_read_finish(res, &len, &error);
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        return;                 /* @opaque may be freed already */
    }
    q = opaque;
    if (!line) {
        if (error) {
            dm_warn("QMP %s: %s, disconnecting", q->path, error->message);
        }
        qmp_broken(q, error ? error->message : "QEMU closed the socket");
        return;
    }
    qmp_line(q, line, len);
    if (q->conn) {
        qmp_read_next(q);
    }
}

static void qmp_read_next(DmQmp *q)
{
    dm_line_reader_read_async(q->in, q->cancel, qmp_line_ready, q);
}

static int qmp_attach(DmQmp *q, int fd, char **ret_err)
{
    g_autoptr(GError) error = NULL;
    GSocket *sock = g_socket_new_from_fd(fd, &error);

    if (!sock) {
        close(fd);
        *ret_err = g_strdup(error->message);
        return -EINVAL;
    }
    q->conn = g_socket_connection_factory_create_connection(sock);
    g_object_unref(sock);
    q->in = dm_line_reader_new(
        g_io_stream_get_input_stream(G_IO_STREAM(q->conn)), DM_QMP_MAX_LINE);
    q->cancel = g_cancellable_new();
    q->greeted = false;
    qmp_read_next(q);
    return 0;
}

DmQmp *dm_qmp_new(const char *path, int fd)
{
    DmQmp *q = g_new0(DmQmp, 1);
    g_autofree char *err = NULL;

    q->path = g_strdup(path);
    q->calls = g_hash_table_new(g_str_hash, g_str_equal);
    g_queue_init(&q->unsent);
    g_queue_init(&q->events);
    if (fd >= 0 && qmp_attach(q, fd, &err) < 0) {
        dm_warn("QMP %s: %s", path, err);
    }
    return q;
}

void dm_qmp_free(DmQmp *q)
{
    qmp_disconnect(q);
    qmp_fail_all(q, "the VM is gone");
    g_hash_table_destroy(q->calls);
    g_queue_clear_full(&q->events, (GDestroyNotify)json_node_unref);
    g_free(q->path);
    g_free(q);
}

static gboolean qmp_call_timeout(gpointer opaque)
{
    DmQmpCall *call = opaque;

    call->timer = 0;
    qmp_call_finish(call, NULL, "no reply from QEMU within "
                    G_STRINGIFY(DM_QMP_TIMEOUT_S) " s");
    return G_SOURCE_REMOVE;
}

/* The command as sent: a copy of @cmd with our tag as its "id". */
static char *qmp_command_line(JsonObject *cmd, const char *tag)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) node = NULL;
    JsonObject *copy = json_object_new();
    g_autoptr(GList) names = json_object_get_members(cmd);
    g_autofree char *text = NULL;
    GList *l;

    for (l = names; l; l = l->next) {
        if (strcmp(l->data, "id") != 0) {
            json_object_set_member(copy, l->data, json_node_copy(
                json_object_get_member(cmd, l->data)));
        }
    }
    json_object_set_string_member(copy, "id", tag);
    node = json_node_init_object(json_node_alloc(), copy);
    json_object_unref(copy);
    json_generator_set_root(gen, node);
    text = json_generator_to_data(gen, NULL);
    return g_strconcat(text, "\n", NULL);
}

void dm_qmp_execute(DmQmp *q, JsonObject *cmd, DmQmpReplyFn *cb,
                    void *opaque)
{
    DmQmpCall *call = g_new0(DmQmpCall, 1);
    JsonNode *user_id = json_object_get_member(cmd, "id");

    call->q = q;
    call->tag = g_strdup_printf("dm-%" PRIu64, ++q->next_tag);
    call->line = qmp_command_line(cmd, call->tag);
    call->user_id = user_id ? json_node_copy(user_id) : NULL;
    call->cb = cb;
    call->opaque = opaque;
    call->timer = g_timeout_add_seconds(DM_QMP_TIMEOUT_S, qmp_call_timeout,
                                        call);
    g_hash_table_insert(q->calls, call->tag, call);

    if (!q->conn) {
        g_autofree char *err = NULL;
        int fd = dm_unix_connect(q->path);

        if (fd < 0 || qmp_attach(q, fd, &err) < 0) {
            g_autofree char *why = g_strdup_printf(
                "cannot connect to QMP at %s: %s", q->path,
                err ? err : g_strerror(-fd));

            qmp_call_finish(call, NULL, why);
            return;
        }
    }
    if (!q->greeted) {
        g_queue_push_tail(&q->unsent, call);
        return;
    }
    qmp_send(q, call->line);
}

JsonArray *dm_qmp_events(DmQmp *q)
{
    JsonArray *arr = json_array_new();
    GList *l;

    for (l = q->events.head; l; l = l->next) {
        json_array_add_element(arr, json_node_copy(l->data));
    }
    return arr;
}
