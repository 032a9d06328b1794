/*
 * dm-orchestrator: a platform's removal on the store
 * (store-platform-remove.h).  Above both the platforms' and the VMs'
 * documents, which it checks together.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "error.h"
#include "store-load.h"
#include "store-platform-remove.h"
#include "store-platforms.h"
#include "store-vms.h"

bool orch_platform_remove_doc(OrchStoreView *v, const char *root,
                              const char *name, GError **errp)
{
    g_autoptr(JsonObject) had = NULL;
    gint64 used;

    if (!orch_platform_read(v, root, name, &had, errp)) {
        return false;
    }
    if (!had) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND,
                    "no platform '%s'", name);
        return false;
    }
    /* Read through the view: a claim committed meanwhile fails this. */
    used = orch_load_used(v, root, name, errp);
    if (used < 0) {
        return false;
    }
    if (used > 0) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "platform '%s' holds %" G_GINT64_FORMAT " device "
                    "model(s)", name, used);
        return false;
    }
    /* The VMs' references are names: none may be left dangling. */
    if (!orch_vm_doc_release_platform(v, root, name, errp)) {
        return false;
    }
    orch_platform_delete_doc(v, root, name);
    return true;
}
