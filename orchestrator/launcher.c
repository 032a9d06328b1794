/*
 * dm-orchestrator: the launchers' client.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <libsoup/soup.h>

#include "address.h"
#include "error.h"
#include "launcher.h"
#include "launcher-reply.h"
#include "lead.h"
#include "soup-read.h"

/* Set once by main() before any call; read-only afterwards. */
static const DmSoupTlsCreds *launcher_tls;
static guint launcher_timeout_s = ORCH_LAUNCHER_TIMEOUT_S;
static void (*launcher_pause)(void);
static bool (*launcher_resume)(void);

void orch_launcher_set_tls(const DmSoupTlsCreds *creds)
{
    launcher_tls = creds;
}

void orch_launcher_set_timeout(guint seconds)
{
    launcher_timeout_s = seconds;
}

void orch_launcher_set_wait(void (*pause)(void), bool (*resume)(void))
{
    launcher_pause = pause;
    launcher_resume = resume;
}

/* TLS for launchers on TCP; one on a UNIX socket is guarded by its mode. */
static const DmSoupTlsCreds *launcher_creds(const char *address)
{
    return g_str_has_prefix(address, "tcp:") ? launcher_tls : NULL;
}

typedef struct LauncherWs {
    SoupSession *session;
    SoupMessage *msg;
    OrchLauncherWsFn *done;
    gpointer opaque;
} LauncherWs;

/*
 * The leader's fencing token on a call (lead.h): none without an
 * election; a follower, or a leader past its deadline, sends no command
 * (a GET goes unfenced then: it changes nothing).  A leader's GETs carry
 * it too: a new leader's first look at a launcher (its reconciliation's)
 * fences the old one there before it trusts what it saw.
 */
/* dm-remote/launcher/fence.h's header. */
#define LAUNCHER_FENCE_HEADER "X-DM-Fence"

static bool launcher_fence(SoupMessage *msg, const char *method,
                           GError **errp)
{
    gint64 token = orch_lead_token();

    if (token > 0) {
        g_autofree char *v = g_strdup_printf("%" G_GINT64_FORMAT, token);

        soup_message_headers_replace(soup_message_get_request_headers(msg),
                                     LAUNCHER_FENCE_HEADER, v);
    } else if (token < 0 && strcmp(method, "GET") != 0) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_UNAVAILABLE,
                    "this orchestrator no longer leads: %s not sent",
                    method);
        return false;
    }
    return true;
}

static void launcher_ws_done(GObject *src, GAsyncResult *res, gpointer data)
{
    LauncherWs *w = data;
    g_autoptr(GError) err = NULL;
    g_autoptr(SoupWebsocketConnection) ws =
        soup_session_websocket_connect_finish(SOUP_SESSION(src), res, &err);
    g_autofree char *why = NULL;

    if (!ws) {
        guint status = soup_message_get_status(w->msg);

        why = status >= 400 ? g_strdup_printf("the launcher answered %u",
                                              status) :
              dm_soup_tls_explain(w->msg, err);
    }
    w->done(ws, why, w->opaque);
    g_object_unref(w->msg);
    g_object_unref(w->session);
    g_free(w);
}

void orch_launcher_websocket(const char *address, const char *path,
                             GCancellable *cancel, OrchLauncherWsFn *done,
                             gpointer opaque)
{
    const DmSoupTlsCreds *tls = launcher_creds(address);
    g_autoptr(GSocketConnectable) peer = NULL;
    g_autoptr(GError) err = NULL;
    LauncherWs *w;

    peer = orch_address_connectable(address, &err);
    if (!peer) {
        done(NULL, err->message, opaque);
        return;
    }
    w = g_new0(LauncherWs, 1);
    /* No I/O timeout: a console may stay quiet for hours (keepalive). */
    w->session = dm_soup_tls_session_new(peer, tls, "dm-orchestrator", 0);
    w->msg = dm_soup_tls_message_new("GET", "launcher", path, tls);
    w->done = done;
    w->opaque = opaque;
    if (!w->msg) {
        g_object_unref(w->session);
        g_free(w);
        done(NULL, "bad launcher path", opaque);
        return;
    }
    soup_session_websocket_connect_async(w->session, w->msg, NULL, NULL,
                                         G_PRIORITY_DEFAULT, cancel,
                                         launcher_ws_done, w);
}

bool orch_launcher_call(const char *address, const char *method,
                        const char *path, JsonNode *body, guint *ret_status,
                        JsonNode **ret_reply, GError **errp)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GError) read_err = NULL;
    g_autoptr(GSocketConnectable) peer = NULL;
    g_autoptr(SoupSession) session = NULL;
    g_autoptr(SoupMessage) msg = NULL;
    g_autoptr(GBytes) answer = NULL;
    g_autoptr(GInputStream) in = NULL;
    g_autofree char *why = NULL;
    const DmSoupTlsCreds *tls = launcher_creds(address);
    JsonNode *reply = NULL;
    gsize len;
    const void *data;

    peer = orch_address_connectable(address, &err);
    if (!peer) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_GATEWAY, "%s",
                    err->message);
        return false;
    }
    session = dm_soup_tls_session_new(peer, tls, "dm-orchestrator",
                                      launcher_timeout_s);
    msg = dm_soup_tls_message_new(method, "launcher", path, tls);
    if (!msg) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_GATEWAY,
                    "bad launcher path '%s'", path);
        return false;
    }
    if (!launcher_fence(msg, method, errp)) {
        return false;
    }
    if (body) {
        char *text = json_to_string(body, FALSE);
        g_autoptr(GBytes) bytes = g_bytes_new_take(text, strlen(text));

        soup_message_set_request_body_from_bytes(msg, "application/json",
                                                 bytes);
    }
    /* Let other requests use the database while this launcher answers. */
    if (launcher_pause) {
        launcher_pause();
    }
    in = soup_session_send(session, msg, NULL, &err);
    if (in) {
        /* A launcher, or whatever answers at its address: bounded. */
        answer = dm_soup_read_max(msg, in, ORCH_LAUNCHER_MAX_ANSWER, NULL,
                                  &read_err);
    }
    if (launcher_resume && !launcher_resume()) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_UNAVAILABLE,
                    "the database is busy");
        return false;
    }
    if (!in) {
        why = dm_soup_tls_explain(msg, err);
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_GATEWAY,
                    "launcher %s: %s", address, why);
        return false;
    }
    if (!answer) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_GATEWAY,
                    "launcher %s: %s %s: %s", address, method, path,
                    read_err->message);
        return false;
    }
    data = g_bytes_get_data(answer, &len);
    if (!orch_launcher_answer(address, method, path, data, len, &reply,
                              errp)) {
        return false;
    }
    *ret_status = soup_message_get_status(msg);
    *ret_reply = reply;
    return true;
}

typedef struct LauncherAsync {
    SoupSession *session;
    SoupMessage *msg;
    GBytes *answer;
    GCancellable *cancel;
    char *what;                 /* "launcher ADDRESS: METHOD PATH" */
    char *address, *method, *path;
    OrchLauncherDoneFn *done;
    gpointer opaque;
} LauncherAsync;

/* Tell the caller (@error, or the answer read) and free @a. */
static void launcher_async_end(LauncherAsync *a, const char *error)
{
    g_autoptr(JsonNode) reply = NULL;
    g_autoptr(GError) err = NULL;
    gsize len = 0;
    const void *data = a->answer ? g_bytes_get_data(a->answer, &len) : NULL;

    /* The same reading as a blocking call's (its depth limit too). */
    if (!error && !orch_launcher_answer(a->address, a->method, a->path,
                                        data, len, &reply, &err)) {
        error = err->message;
    }
    a->done(error ? 0 : soup_message_get_status(a->msg), reply, error,
            a->opaque);
    g_clear_pointer(&a->answer, g_bytes_unref);
    g_object_unref(a->msg);
    g_object_unref(a->session);
    g_clear_object(&a->cancel);
    g_free(a->what);
    g_free(a->address);
    g_free(a->method);
    g_free(a->path);
    g_free(a);
}

static void launcher_async_read(GObject *src, GAsyncResult *res,
                                gpointer opaque)
{
    LauncherAsync *a = opaque;
    g_autoptr(GError) err = NULL;
    g_autofree char *why = NULL;

    a->answer = dm_soup_read_max_finish(res, &err);
    if (!a->answer) {
        why = g_strdup_printf("%s: %s", a->what, err->message);
    }
    launcher_async_end(a, why);
}

static void launcher_async_sent(GObject *src, GAsyncResult *res,
                                gpointer opaque)
{
    LauncherAsync *a = opaque;
    g_autoptr(GError) err = NULL;
    g_autoptr(GInputStream) in = NULL;
    g_autofree char *why = NULL;

    in = soup_session_send_finish(SOUP_SESSION(src), res, &err);
    if (!in) {
        g_autofree char *explained = dm_soup_tls_explain(a->msg, err);

        why = g_strdup_printf("%s: %s", a->what, explained);
        launcher_async_end(a, why);
        return;
    }
    /* As a blocking call: no more than ORCH_LAUNCHER_MAX_ANSWER held. */
    dm_soup_read_max_async(a->msg, in, ORCH_LAUNCHER_MAX_ANSWER, a->cancel,
                           launcher_async_read, a);
}

/* A call that could not start, told from the main loop all the same. */
typedef struct LauncherAsyncFail {
    char *why;
    OrchLauncherDoneFn *done;
    gpointer opaque;
} LauncherAsyncFail;

static gboolean launcher_async_fail(gpointer opaque)
{
    LauncherAsyncFail *f = opaque;

    f->done(0, NULL, f->why, f->opaque);
    g_free(f->why);
    g_free(f);
    return G_SOURCE_REMOVE;
}

void orch_launcher_call_async(const char *address, const char *method,
                              const char *path, JsonNode *body,
                              guint timeout_s, GCancellable *cancel,
                              OrchLauncherDoneFn *done, gpointer opaque)
{
    const DmSoupTlsCreds *tls = launcher_creds(address);
    g_autoptr(GSocketConnectable) peer = NULL;
    g_autoptr(GError) err = NULL;
    SoupMessage *msg;
    LauncherAsync *a;

    peer = orch_address_connectable(address, &err);
    msg = peer ? dm_soup_tls_message_new(method, "launcher", path, tls)
               : NULL;
    if (msg && !launcher_fence(msg, method, &err)) {
        g_clear_object(&msg);
    }
    if (!msg) {
        LauncherAsyncFail *f = g_new0(LauncherAsyncFail, 1);

        f->why = err ? g_strdup(err->message)
                     : g_strdup_printf("bad launcher path '%s'", path);
        f->done = done;
        f->opaque = opaque;
        g_idle_add(launcher_async_fail, f);
        return;
    }
    a = g_new0(LauncherAsync, 1);
    a->session = dm_soup_tls_session_new(peer, tls, "dm-orchestrator",
                                         timeout_s);
    a->msg = msg;
    a->cancel = cancel ? g_object_ref(cancel) : NULL;
    a->what = g_strdup_printf("launcher %s: %s %s", address, method, path);
    a->address = g_strdup(address);
    a->method = g_strdup(method);
    a->path = g_strdup(path);
    a->done = done;
    a->opaque = opaque;
    if (body) {
        char *text = json_to_string(body, FALSE);
        g_autoptr(GBytes) bytes = g_bytes_new_take(text, strlen(text));

        soup_message_set_request_body_from_bytes(a->msg, "application/json",
                                                 bytes);
    }
    soup_session_send_async(a->session, a->msg, G_PRIORITY_DEFAULT,
                            a->cancel, launcher_async_sent, a);
}

