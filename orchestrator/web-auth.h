/*
 * dm-orchestrator: who may use the API and the web console over TLS
 * (web-auth.c).
 *
 * Without TLS (a UNIX socket, or --insecure-plain-tcp) everyone who
 * reaches the listener may.  With TLS, a client certificate of our CA
 * is enough, as before; a browser that holds none may show the login
 * token (--web-token-file) instead, as a cookie set by POST /login or
 * an "Authorization: Bearer TOKEN" header.  The TLS handshake then only
 * requests a certificate (a wrong one is still refused), and every
 * request is checked here.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_WEB_AUTH_H
#define ORCH_WEB_AUTH_H

#include <stdbool.h>
#include <libsoup/soup.h>

/* The cookie POST /login sets. */
#define ORCH_WEB_COOKIE "dm-web-token"

typedef struct OrchWebAuth OrchWebAuth;

/*
 * Read the token from @token_file (NULL: no token, certificates only);
 * @tls says whether the listener is TLS.  NULL with an error if the file
 * is unreadable, too short (under 16 characters) or not one line.
 */
OrchWebAuth *orch_web_auth_new(bool tls, const char *token_file,
                               GError **errp);
void orch_web_auth_free(OrchWebAuth *a);
/* Call before listening: lets certificate-less browsers complete TLS. */
void orch_web_auth_setup(OrchWebAuth *a, SoupServer *soup);
/* Whether @msg may be served. */
bool orch_web_auth_ok(OrchWebAuth *a, SoupServerMessage *msg);
/*
 * Answer a request that may not be served: 401, as JSON for the API
 * (@path under /v1), with the login form for a page.
 */
void orch_web_auth_refuse(OrchWebAuth *a, SoupServerMessage *msg,
                          const char *path);
/* GET or POST /login: the form, or the token checked into a cookie. */
void orch_web_auth_login(OrchWebAuth *a, SoupServerMessage *msg);

#endif /* ORCH_WEB_AUTH_H */
