/*
 * TLS for dm-remote's TCP sessions, with GnuTLS.
 *
 * The credentials directory has QEMU's tls-creds-x509 layout for a
 * server: ca-cert.pem (the CA that signs the clients we accept),
 * server-cert.pem, server-key.pem, and optionally ca-crl.pem.  Clients
 * must present a certificate signed by that CA: both ends are verified.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_TLS_H
#define DM_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "vup/msg.h"

typedef struct DmTlsCreds DmTlsCreds;
typedef struct DmTlsSession DmTlsSession;

/* Load @dir's credentials; -errno with a message in @err on failure. */
int dm_tls_creds_load(const char *dir, DmTlsCreds **ret_creds, char *err,
                      size_t errlen);
void dm_tls_creds_free(DmTlsCreds *creds);

/*
 * A server-side session on connected socket @fd, its handshake not yet
 * run; the fd stays the caller's.  -errno with a message in @err.
 */
int dm_tls_session_new(DmTlsCreds *creds, int fd, DmTlsSession **ret_session,
                       char *err, size_t errlen);

/*
 * Carry the handshake on with what the client has sent so far (the
 * caller makes the socket non-blocking meanwhile): 0 once done and the
 * client's certificate verified; -EAGAIN when it needs more, with
 * @ret_want_write telling whether it waits to send or to receive;
 * -EACCES with a message in @err on failure (an alert has been sent).
 */
int dm_tls_session_handshake(DmTlsSession *session, bool *ret_want_write,
                             char *err, size_t errlen);

/* The framing's view of the session (see vup/msg.h). */
VupStream dm_tls_session_stream(DmTlsSession *session);

/* The peer's certificate subject, for logs. */
const char *dm_tls_session_peer(DmTlsSession *session);

/* Say goodbye without waiting for the peer, and free. */
void dm_tls_session_free(DmTlsSession *session);

/*
 * Does the first byte waiting on @fd start a TLS handshake?  1 yes, 0 no
 * (a plain vfio-user client), -EAGAIN if nothing came yet, -ECONNRESET
 * if the client closed, another -errno on error.  Never blocks.
 */
int dm_tls_peek_handshake(int fd);

#endif /* DM_TLS_H */
