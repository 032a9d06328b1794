/*
 * TLS credentials of the orchestrator's API (see tls.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "tls.h"

gboolean orch_tls_creds_load(const char *dir, const char *role,
                             OrchTlsCreds *ret, GError **errp)
{
    g_autofree char *ca = g_build_filename(dir, "ca-cert.pem", NULL);
    g_autofree char *cert_name = g_strdup_printf("%s-cert.pem", role);
    g_autofree char *key_name = g_strdup_printf("%s-key.pem", role);
    g_autofree char *cert = g_build_filename(dir, cert_name, NULL);
    g_autofree char *key = g_build_filename(dir, key_name, NULL);
    g_autoptr(GError) err = NULL;

    memset(ret, 0, sizeof(*ret));
    if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                    "GIO has no TLS backend (install glib-networking)");
        return FALSE;
    }
    ret->ca = g_tls_file_database_new(ca, &err);
    if (!ret->ca) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "%s: %s", ca, err->message);
        return FALSE;
    }
    ret->cert = g_tls_certificate_new_from_files(cert, key, &err);
    if (!ret->cert) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "%s or %s: %s", cert, key, err->message);
        orch_tls_creds_clear(ret);
        return FALSE;
    }
    return TRUE;
}

void orch_tls_creds_clear(OrchTlsCreds *creds)
{
    g_clear_object(&creds->cert);
    g_clear_object(&creds->ca);
}
