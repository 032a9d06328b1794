/*
 * dm-orchestrator: the launcher DELETEs that undo a failed request's
 * launches (see undo.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "launcher.h"
#include "log.h"
#include "undo.h"

typedef struct UndoItem {
    char *address;
    char *path;
} UndoItem;

void orch_undo_add(OrchUndo *u, const char *address, const char *path)
{
    UndoItem *i = g_new0(UndoItem, 1);

    i->address = g_strdup(address);
    i->path = g_strdup(path);
    u->items = g_slist_prepend(u->items, i);
}

static void undo_item_free(gpointer p)
{
    UndoItem *i = p;

    g_free(i->address);
    g_free(i->path);
    g_free(i);
}

/* Newest first, so a VM goes before the device models it uses. */
void orch_undo_run(OrchUndo *u)
{
    GSList *l;

    for (l = u->items; l; l = l->next) {
        UndoItem *i = l->data;
        g_autoptr(JsonNode) reply = NULL;
        g_autoptr(GError) err = NULL;
        guint status = 0;

        if (!orch_launcher_call(i->address, "DELETE", i->path, NULL,
                                &status, &reply, &err)) {
            orch_warn("undo: %s, ignoring", err->message);
        } else if (status >= 300 && status != 404) {
            orch_warn("undo: launcher %s: DELETE %s: %u, ignoring",
                      i->address, i->path, status);
        } else {
            orch_debug("undo: DELETE %s on %s", i->path, i->address);
        }
    }
    orch_undo_clear(u);
}

void orch_undo_clear(OrchUndo *u)
{
    g_slist_free_full(g_steal_pointer(&u->items), undo_item_free);
}
