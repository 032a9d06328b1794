/*
 * TLS for the orchestrator's API over TCP: credentials read from a
 * directory laid out as QEMU's tls-creds-x509 (ca-cert.pem, and
 * server-cert.pem/server-key.pem or client-cert.pem/client-key.pem).
 * Both ends are verified: the server requires a client certificate signed
 * by its CA, dmctl checks the server's against its CA and the host name it
 * connects to.  Shared by dm-orchestrator and dmctl.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_TLS_H
#define ORCH_TLS_H

#include <gio/gio.h>

typedef struct OrchTlsCreds {
    GTlsCertificate *cert;      /* ours, with its key */
    GTlsDatabase *ca;           /* whom we trust */
} OrchTlsCreds;

/*
 * Load DIR/ca-cert.pem and DIR/@role-cert.pem + DIR/@role-key.pem
 * (@role "server" or "client").  FALSE with a message naming the file on
 * failure, also when GIO has no TLS backend (glib-networking).
 */
gboolean orch_tls_creds_load(const char *dir, const char *role,
                             OrchTlsCreds *ret, GError **errp);
void orch_tls_creds_clear(OrchTlsCreds *creds);

#endif /* ORCH_TLS_H */
