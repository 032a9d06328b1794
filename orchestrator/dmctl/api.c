/*
 * dmctl: calls to the orchestrator's API.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>
#include <libsoup/soup.h>

#include "../address.h"
#include "api.h"
#include "json-http.h"
#include "json-limits.h"
#include "options.h"
#include "soup-read.h"
#include "soup-tls.h"

/*
 * The most an answer of the orchestrator's may hold, read as it
 * streams: whatever answers at --orchestrator must not make us hold
 * more.  The largest are lists of every VM or platform (a KiB or two
 * each) and pages of events: tens of thousands of VMs fit.
 */
#define DMCTL_MAX_ANSWER (64 * 1024 * 1024)

/* Loaded by main() when --tls-creds is given. */
static DmSoupTlsCreds api_tls;

int dmctl_api_tls(const char *dir)
{
    g_autoptr(GError) err = NULL;

    if (!dm_soup_tls_creds_load(dir, "client", &api_tls, &err)) {
        fprintf(stderr, "dmctl: --tls-creds: %s\n", err->message);
        return DMCTL_USAGE;
    }
    return DMCTL_OK;
}

/* NULL for plain HTTP. */
static const DmSoupTlsCreds *api_creds(void)
{
    return api_tls.cert ? &api_tls : NULL;
}

static SoupSession *session;

static SoupSession *api_session(void)
{
    g_autoptr(GSocketConnectable) peer = NULL;

    if (!session) {
        /* main() checked the address already. */
        peer = orch_address_connectable(arg_orchestrator, NULL);
        session = dm_soup_tls_session_new(peer, api_creds(), "dmctl", 0);
    }
    return session;
}

static SoupMessage *api_message(const char *method, const char *path,
                                JsonNode *body)
{
    SoupMessage *msg = dm_soup_tls_message_new(method, "orchestrator", path,
                                               api_creds());

    if (msg && body) {
        char *text = json_to_string(body, FALSE);
        g_autoptr(GBytes) bytes = g_bytes_new_take(text, strlen(text));

        soup_message_set_request_body_from_bytes(msg, "application/json",
                                                 bytes);
    }
    return msg;
}

/* Turn an answer into the reply or an error line. */
static int api_answer(SoupMessage *msg, GBytes *answer, GError *err,
                      JsonNode **ret_reply)
{
    g_autoptr(JsonNode) node = NULL;
    g_autoptr(GError) bad = NULL;
    guint status;
    gsize len = 0;
    const char *data = answer ? g_bytes_get_data(answer, &len) : NULL;

    if (g_error_matches(err, DM_SOUP_READ_ERROR,
                        DM_SOUP_READ_ERROR_TOO_LARGE)) {
        fprintf(stderr, "dmctl: the orchestrator's answer is refused: %s\n",
                err->message);
        return DMCTL_FAIL;
    }
    if (!answer) {
        g_autofree char *why = dm_soup_tls_explain(msg, err);

        fprintf(stderr, "dmctl: cannot reach the orchestrator at %s: %s\n",
                arg_orchestrator, why);
        return DMCTL_FAIL;
    }
    if (len) {
        /* Whatever answers at the address: nested too deep, refused. */
        node = dm_json_parse_peer(data, len, DM_JSON_MAX_DEPTH, &bad);
    }
    status = soup_message_get_status(msg);
    if (status < 200 || status >= 300) {
        const char *why = NULL;

        if (node && JSON_NODE_HOLDS_OBJECT(node) &&
            json_object_has_member(json_node_get_object(node), "error")) {
            why = json_object_get_string_member(json_node_get_object(node),
                                                "error");
        }
        fprintf(stderr, "dmctl: %s\n", why ? why :
                soup_status_get_phrase(status));
        return DMCTL_FAIL;
    }
    if (!node) {
        fprintf(stderr, "dmctl: the orchestrator's answer is refused: %s\n",
                bad ? bad->message : "empty");
        return DMCTL_FAIL;
    }
    *ret_reply = g_steal_pointer(&node);
    return DMCTL_OK;
}

/*
 * A follower among orchestrators on etcd answers a write 307 with the
 * leader's API address (X-DM-Leader, docs/scale-out.md): the call is
 * sent there instead, once, with the same credentials.
 */
static bool api_follow_leader(SoupMessage *msg)
{
    static bool followed;
    const char *leader = soup_message_headers_get_one(
        soup_message_get_response_headers(msg), "X-DM-Leader");

    if (followed || soup_message_get_status(msg) != 307 || !leader ||
        !orch_address_valid(leader, NULL) ||
        g_strcmp0(leader, arg_orchestrator) == 0) {
        return false;
    }
    followed = true;
    arg_orchestrator = g_strdup(leader);
    g_clear_object(&session);
    return true;
}

int dmctl_api(const char *method, const char *path, JsonNode *body,
              JsonNode **ret_reply)
{
    g_autoptr(SoupMessage) msg = api_message(method, path, body);
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) answer = NULL;

    if (!msg) {
        fprintf(stderr, "dmctl: bad request path '%s'\n", path);
        return DMCTL_USAGE;
    }
    answer = dm_soup_send_and_read_max(api_session(), msg, DMCTL_MAX_ANSWER,
                                       NULL, &err);
    if (answer && api_follow_leader(msg)) {
        return dmctl_api(method, path, body, ret_reply);
    }
    return api_answer(msg, answer, err, ret_reply);
}

typedef struct ApiWatch {
    GMainLoop *loop;
    SoupMessage *msg;
    SoupMessage *poll_msg;      /* the poll in flight, or NULL */
    GBytes *answer;
    GError *err;
    const char *poll_path;
    void (*progress)(JsonObject *o);
    bool polling;
} ApiWatch;

static void api_watch_done(GObject *src, GAsyncResult *res, gpointer opaque)
{
    ApiWatch *w = opaque;

    w->answer = dm_soup_send_and_read_max_finish(res, &w->err);
    g_main_loop_quit(w->loop);
}

static void api_poll_done(GObject *src, GAsyncResult *res, gpointer opaque)
{
    ApiWatch *w = opaque;
    g_autoptr(SoupMessage) msg = g_steal_pointer(&w->poll_msg);
    g_autoptr(GBytes) answer = NULL;
    g_autoptr(JsonNode) node = NULL;
    const char *data;
    gsize len;

    answer = dm_soup_send_and_read_max_finish(res, NULL);
    w->polling = false;
    if (!answer || soup_message_get_status(msg) != 200 || w->answer) {
        return;
    }
    data = g_bytes_get_data(answer, &len);
    /* A progress line skipped, as one that is not JSON. */
    node = dm_json_parse_peer(data, len, DM_JSON_MAX_DEPTH, NULL);
    if (node && JSON_NODE_HOLDS_OBJECT(node)) {
        w->progress(json_node_get_object(node));
    }
}

static gboolean api_poll(gpointer opaque)
{
    ApiWatch *w = opaque;

    if (!w->polling) {
        w->poll_msg = api_message("GET", w->poll_path, NULL);
        w->polling = true;
        dm_soup_send_and_read_max_async(api_session(), w->poll_msg,
                                        DMCTL_MAX_ANSWER, NULL,
                                        api_poll_done, w);
    }
    return G_SOURCE_CONTINUE;
}

int dmctl_api_watch(const char *method, const char *path, JsonNode *body,
                    const char *poll_path,
                    void (*progress)(JsonObject *o), JsonNode **ret_reply)
{
    ApiWatch w = { .poll_path = poll_path, .progress = progress };
    guint timer;
    int ret;

    w.msg = api_message(method, path, body);
    w.loop = g_main_loop_new(NULL, FALSE);
    dm_soup_send_and_read_max_async(api_session(), w.msg, DMCTL_MAX_ANSWER,
                                    NULL, api_watch_done, &w);
    timer = g_timeout_add(500, api_poll, &w);
    g_main_loop_run(w.loop);
    g_source_remove(timer);
    /* Let a poll in flight finish before @w goes away. */
    while (w.polling) {
        g_main_context_iteration(NULL, TRUE);
    }
    if (w.answer && api_follow_leader(w.msg)) {
        ret = dmctl_api_watch(method, path, body, poll_path, progress,
                              ret_reply);
    } else {
        ret = api_answer(w.msg, w.answer, w.err, ret_reply);
    }
    g_clear_pointer(&w.answer, g_bytes_unref);
    g_clear_error(&w.err);
    g_object_unref(w.msg);
    g_main_loop_unref(w.loop);
    return ret;
}

void dmctl_print_json(JsonNode *node)
{
    g_autofree char *text = json_to_string(node, TRUE);

    printf("%s\n", text);
}
