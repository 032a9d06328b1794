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

/*
 * Read @msg's answer from @in, at most ORCH_LAUNCHER_MAX_ANSWER bytes: a
 * launcher (or whatever answers at its address) must not make us hold
 * more.  NULL with @errp set when it is larger or the read fails.
 */
static GBytes *launcher_read(SoupMessage *msg, GInputStream *in,
                             GError **errp)
{
    g_autoptr(GByteArray) buf = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    goffset declared = soup_message_headers_get_content_length(
        soup_message_get_response_headers(msg));
    guint8 chunk[16384];

    if (declared > ORCH_LAUNCHER_MAX_ANSWER) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_GATEWAY, "answer of %"
                    G_GOFFSET_FORMAT " bytes, more than %d", declared,
                    ORCH_LAUNCHER_MAX_ANSWER);
        return NULL;
    }
    for (;;) {
        gssize n = g_input_stream_read(in, chunk, sizeof(chunk), NULL, &err);

        if (n < 0) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_GATEWAY,
                        "reading the answer: %s", err->message);
            return NULL;
        }
        if (n == 0) {
            break;
        }
        if (buf->len + n > ORCH_LAUNCHER_MAX_ANSWER) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_GATEWAY,
                        "answer larger than %d bytes",
                        ORCH_LAUNCHER_MAX_ANSWER);
            return NULL;
        }
        g_byte_array_append(buf, chunk, n);
    }
    return g_byte_array_free_to_bytes(g_steal_pointer(&buf));
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
        answer = launcher_read(msg, in, &read_err);
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
