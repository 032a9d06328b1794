/*
 * dm-orchestrator: certificate or login token (see web-auth.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "log.h"
#include "web-auth.h"

/* Shorter is guessable; the file is the operator's choice of secret. */
#define WEB_TOKEN_MIN 16
#define WEB_TOKEN_MAX 4096

struct OrchWebAuth {
    bool tls;
    char *token;                /* NULL: certificates only */
};

OrchWebAuth *orch_web_auth_new(bool tls, const char *token_file,
                               GError **errp)
{
    OrchWebAuth *a = g_new0(OrchWebAuth, 1);
    g_autofree char *text = NULL;
    gsize len;

    a->tls = tls;
    if (!token_file) {
        return a;
    }
    if (!g_file_get_contents(token_file, &text, &len, errp)) {
        orch_web_auth_free(a);
        return NULL;
    }
    g_strchomp(text);
    len = strlen(text);
    if (len < WEB_TOKEN_MIN || len > WEB_TOKEN_MAX ||
        strpbrk(text, "\n\r\t ;,\"")) {
        g_set_error(errp, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "%s: the token must be one line of %d to %d characters "
                    "without spaces, ';', ',' or '\"'", token_file,
                    WEB_TOKEN_MIN, WEB_TOKEN_MAX);
        orch_web_auth_free(a);
        return NULL;
    }
    a->token = g_steal_pointer(&text);
    return a;
}

void orch_web_auth_free(OrchWebAuth *a)
{
    if (a) {
        if (a->token) {
            explicit_bzero(a->token, strlen(a->token));
        }
        g_free(a->token);
        g_free(a);
    }
}

void orch_web_auth_setup(OrchWebAuth *a, SoupServer *soup)
{
    /*
     * A wrong certificate is still refused by soup-tls.c's check; none
     * at all completes the handshake and is checked per request.
     */
    if (a->tls && a->token) {
        soup_server_set_tls_auth_mode(soup, G_TLS_AUTHENTICATION_REQUESTED);
    }
}

/* Compare without stopping at the first difference. */
static bool web_token_equal(const char *token, const char *given)
{
    size_t n = strlen(token), i;
    unsigned char diff = 0;

    if (!given || strlen(given) != n) {
        return false;
    }
    for (i = 0; i < n; i++) {
        diff |= (unsigned char)token[i] ^ (unsigned char)given[i];
    }
    return diff == 0;
}

static bool web_token_shown(OrchWebAuth *a, SoupServerMessage *msg)
{
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
    const char *auth = soup_message_headers_get_one(h, "Authorization");
    const char *cookie = soup_message_headers_get_list(h, "Cookie");

    if (auth && g_ascii_strncasecmp(auth, "Bearer ", 7) == 0 &&
        web_token_equal(a->token, auth + 7)) {
        return true;
    }
    if (cookie) {
        GHashTable *c = soup_header_parse_semi_param_list(cookie);
        bool ok = web_token_equal(a->token,
                                  g_hash_table_lookup(c, ORCH_WEB_COOKIE));

        soup_header_free_param_list(c);
        return ok;
    }
    return false;
}

bool orch_web_auth_ok(OrchWebAuth *a, SoupServerMessage *msg)
{
    if (!a->tls) {
        return true;
    }
    /* soup-tls.c let the handshake through only with a verified chain. */
    if (soup_server_message_get_tls_peer_certificate(msg) &&
        soup_server_message_get_tls_peer_certificate_errors(msg) == 0) {
        return true;
    }
    return a->token && web_token_shown(a, msg);
}

static const char web_login_form[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    /* No /favicon.ico: asked for before the login, it would be a 401. */
    "<link rel=\"icon\" href=\"data:,\">"
    "<title>dm-orchestrator: log in</title></head><body><main>"
    "<h1>dm-orchestrator</h1>"
    "<form method=\"post\" action=\"/login\">"
    "<label for=\"token\">Login token</label> "
    "<input id=\"token\" name=\"token\" type=\"password\" required "
    "autofocus autocomplete=\"current-password\"> "
    "<button type=\"submit\">Log in</button></form>"
    "</main></body></html>\n";

static void web_login_page(SoupServerMessage *msg, guint status)
{
    soup_server_message_set_status(msg, status, NULL);
    soup_server_message_set_response(msg, "text/html; charset=utf-8",
                                     SOUP_MEMORY_STATIC, web_login_form,
                                     strlen(web_login_form));
}

void orch_web_auth_refuse(OrchWebAuth *a, SoupServerMessage *msg,
                          const char *path)
{
    static const char json[] =
        "{\"error\": \"a client certificate or the login token is "
        "required\"}";
    GSocketAddress *peer = soup_server_message_get_remote_address(msg);
    g_autofree char *who = peer ?
        g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(peer)) : NULL;

    orch_info("refused %s %s from %s: no client certificate nor token",
              soup_server_message_get_method(msg), path,
              who ? who : "a client");
    soup_message_headers_replace(
        soup_server_message_get_response_headers(msg), "WWW-Authenticate",
        "Bearer realm=\"dm-orchestrator\"");
    if (g_str_has_prefix(path, "/v1/") || strcmp(path, "/v1") == 0 ||
        strcmp(path, "/metrics") == 0 || !a->token) {
        soup_server_message_set_status(msg, 401, NULL);
        soup_server_message_set_response(msg, "application/json",
                                         SOUP_MEMORY_STATIC, json,
                                         strlen(json));
        return;
    }
    web_login_page(msg, 401);
}

void orch_web_auth_login(OrchWebAuth *a, SoupServerMessage *msg)
{
    const char *method = soup_server_message_get_method(msg);
    SoupMessageBody *body = soup_server_message_get_request_body(msg);
    SoupMessageHeaders *out = soup_server_message_get_response_headers(msg);
    g_autofree char *form = NULL;
    g_autofree char *cookie = NULL;
    GHashTable *fields;
    bool ok;

    if (strcmp(method, "POST") != 0) {
        if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
            soup_message_headers_replace(out, "Allow", "GET, HEAD, POST");
            soup_server_message_set_status(msg, 405, NULL);
            return;
        }
        web_login_page(msg, 200);
        return;
    }
    if (!a->token) {
        soup_server_message_set_status(msg, 404, NULL);
        return;
    }
    form = g_strndup(body->data, body->length);
    fields = soup_form_decode(form);
    ok = web_token_equal(a->token, g_hash_table_lookup(fields, "token"));
    g_hash_table_destroy(fields);
    if (!ok) {
        orch_info("refused a login with a wrong token");
        web_login_page(msg, 401);
        return;
    }
    /* The browser sends it back to us only, over TLS, never to scripts. */
    cookie = g_strdup_printf("%s=%s; Path=/; Secure; HttpOnly; "
                             "SameSite=Strict", ORCH_WEB_COOKIE, a->token);
    soup_message_headers_append(out, "Set-Cookie", cookie);
    soup_server_message_set_redirect(msg, 303, "/");
}
