/*
 * dm-orchestrator: its one error domain (see error.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "error.h"
#include "etcd.h"

G_DEFINE_QUARK(orch-error-quark, orch_error)

void orch_error_internal(GError **errp, int errnum)
{
    g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL, "internal error (%s)",
                g_strerror(errnum));
}

void orch_error_from_etcd(GError **errp)
{
    GError *e = errp ? *errp : NULL;

    if (!e || e->domain != DM_ETCD_ERROR) {
        return;
    }
    e->domain = ORCH_ERROR;
    e->code = e->code == DM_ETCD_ERROR_CONFIG ? ORCH_ERROR_BAD_REQUEST :
              e->code == DM_ETCD_ERROR_UNAVAILABLE ? ORCH_ERROR_UNAVAILABLE :
              ORCH_ERROR_INTERNAL;
}
