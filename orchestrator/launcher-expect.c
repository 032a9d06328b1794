/*
 * dm-orchestrator: a launcher call that wants one status (launcher.h),
 * above the transport (launcher.c) and the answer's reading
 * (launcher-reply.c), neither of which calls it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "error.h"
#include "launcher.h"
#include "launcher-reply.h"

bool orch_launcher_expect(const char *address, const char *method,
                          const char *path, JsonNode *body, guint want,
                          JsonNode **ret_reply, GError **errp)
{
    g_autoptr(JsonNode) reply = NULL;
    guint status = 0;

    if (!orch_launcher_call(address, method, path, body, &status, &reply,
                            errp)) {
        return false;
    }
    if (status != want) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_GATEWAY,
                    "launcher %s: %s %s: %u %s", address, method, path,
                    status, orch_launcher_reason(reply, status));
        return false;
    }
    if (ret_reply) {
        *ret_reply = g_steal_pointer(&reply);
    }
    return true;
}
