/*
 * dm-orchestrator: its one error domain (see error.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "error.h"

G_DEFINE_QUARK(orch-error-quark, orch_error)

void orch_error_internal(GError **errp, int errnum)
{
    g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL, "internal error (%s)",
                g_strerror(errnum));
}
