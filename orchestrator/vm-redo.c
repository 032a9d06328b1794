/*
 * dm-orchestrator: a VM's writes made again (vm-redo.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdarg.h>
#include <string.h>

#include "records-set.h"
#include "vm.h"
#include "vm-redo.h"

/* @data: the VM's name, then MEMBER, VALUE pairs; "\1" stands for null. */
#define REDO_NULL "\1"

static bool redo_members(OrchRequest *r, gpointer data, GError **errp)
{
    char **v = data;

    for (guint i = 1; v[i] && v[i + 1]; i += 2) {
        const char *value = strcmp(v[i + 1], REDO_NULL) ? v[i + 1] : NULL;

        if (!orch_vm_write(r->db, v[0], errp, v[i], value, NULL)) {
            return false;
        }
    }
    return true;
}

void orch_vm_redo_members(OrchRequest *r, const char *name, ...)
{
    GPtrArray *v = g_ptr_array_new();
    const char *member;
    va_list ap;

    g_ptr_array_add(v, g_strdup(name));
    va_start(ap, name);
    while ((member = va_arg(ap, const char *))) {
        const char *value = va_arg(ap, const char *);

        g_ptr_array_add(v, g_strdup(member));
        g_ptr_array_add(v, g_strdup(value ? value : REDO_NULL));
    }
    va_end(ap);
    g_ptr_array_add(v, NULL);
    orch_request_redo(r, redo_members, g_ptr_array_free(v, FALSE),
                      (GDestroyNotify)g_strfreev);
}

static bool redo_teardown(OrchRequest *r, gpointer data, GError **errp)
{
    return orch_rec_placements_delete(data, errp) &&
           orch_vm_write(r->db, data, errp, "state", "stopped", "saved_file",
                         NULL, NULL);
}

void orch_vm_redo_teardown(OrchRequest *r, const char *name)
{
    orch_request_redo(r, redo_teardown, g_strdup(name), g_free);
}
