/*
 * dm-remote launcher: displays paired with input models (pairing.h).
 *
 * Why symbolic links: the display's input sender connects when it has
 * an event to send and again after its peer went away
 * (docs/input-link.md), so the display is started once with fixed
 * paths in its own directory and never restarted for a pairing; the
 * launcher only makes those paths lead to the input model's socket
 * (a rename over the old link: atomic for a connect in flight).  The
 * display and its input models may come in any order and restart on
 * their own.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "pairing.h"

static const char *pairing_vm(DmInstance *inst)
{
    return inst->bind[0];       /* "vm" */
}

static bool pairing_is(DmInstance *inst, const char *model)
{
    return inst->model && inst->input_path &&
           strcmp(inst->model->name, model) == 0;
}

/* An input model of @model bound to @vm other than @except, or NULL. */
static DmInstance *pairing_input_of(DmServer *s, const char *vm,
                                    const char *model, DmInstance *except)
{
    GHashTableIter it;
    DmInstance *inst;

    g_hash_table_iter_init(&it, s->instances);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&inst)) {
        if (inst != except && pairing_is(inst, model) &&
            g_strcmp0(pairing_vm(inst), vm) == 0) {
            return inst;
        }
    }
    return NULL;
}

DmInstance *dm_pairing_display_of(DmServer *s, const char *vm,
                                  DmInstance *except)
{
    GHashTableIter it;
    DmInstance *inst;

    if (!vm) {
        return NULL;
    }
    g_hash_table_iter_init(&it, s->instances);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&inst)) {
        if (inst != except && inst->vnc &&
            g_strcmp0(pairing_vm(inst), vm) == 0) {
            return inst;
        }
    }
    return NULL;
}

/* Make @link lead to @input's socket (NULL: no link). */
static void pairing_set(DmInstance *display, const char *link,
                        DmInstance *input)
{
    g_autofree char *tmp = NULL;
    g_autofree char *target = NULL;

    if (!input) {
        if (unlink(link) < 0 && errno != ENOENT) {
            dm_warn("display %s: cannot remove %s: %s",
                    display->child.id, link, g_strerror(errno));
        }
        return;
    }
    target = g_file_read_link(link, NULL);
    if (g_strcmp0(target, input->input_path) == 0) {
        return;                 /* paired already */
    }
    tmp = g_strconcat(link, ".new", NULL);
    unlink(tmp);
    if (symlink(input->input_path, tmp) < 0 || rename(tmp, link) < 0) {
        dm_warn("display %s: cannot link %s to %s's input: %s",
                display->child.id, link, input->child.id,
                g_strerror(errno));
        unlink(tmp);
        return;
    }
    dm_info("display %s: %s paired with %s", display->child.id,
            input->model->name, input->child.id);
}

/*
 * Point both of @display's links at its VM's inputs, @except left out;
 * a link without an input is removed only if @remove (a launcher
 * adopting its children finds them in any order: a link is kept until
 * its input is deleted).
 */
static void pairing_refresh(DmServer *s, DmInstance *display,
                            DmInstance *except, bool remove)
{
    static const char *const models[2] = {
        "virtio-keyboard", "virtio-tablet",
    };
    const char *vm = pairing_vm(display);

    for (unsigned i = 0; vm && i < 2; i++) {
        DmInstance *input = pairing_input_of(s, vm, models[i], except);

        if (input || remove) {
            pairing_set(display, i ? display->tablet_link :
                        display->keyboard_link, input);
        }
    }
}

void dm_pairing_link(DmServer *s, DmInstance *inst)
{
    DmInstance *display;

    if (inst->vnc) {
        pairing_refresh(s, inst, NULL, false);
    } else if (inst->input_path && pairing_vm(inst)) {
        display = dm_pairing_display_of(s, pairing_vm(inst), NULL);
        if (display) {
            pairing_refresh(s, display, NULL, false);
        }
    }
}

void dm_pairing_unlink(DmServer *s, DmInstance *inst)
{
    DmInstance *display;

    if (inst->vnc || !inst->input_path || !pairing_vm(inst)) {
        return;                 /* a display's links go with its files */
    }
    display = dm_pairing_display_of(s, pairing_vm(inst), NULL);
    if (display) {
        pairing_refresh(s, display, inst, true);
    }
}

/* The id of what @link leads to among @display's VM's inputs. */
static void pairing_json_input(DmServer *s, JsonObject *o, const char *name,
                               DmInstance *display, const char *model)
{
    DmInstance *input = pairing_input_of(s, pairing_vm(display), model,
                                         NULL);

    if (input) {
        json_object_set_string_member(o, name, input->child.id);
    } else {
        json_object_set_null_member(o, name);
    }
}

void dm_pairing_handle(DmServer *s, SoupServerMessage *msg)
{
    g_autoptr(GList) all = NULL;
    JsonArray *arr;
    JsonObject *o;

    if (dm_http_want_method(msg, "GET") < 0) {
        return;
    }
    all = g_hash_table_get_values(s->instances);
    arr = json_array_new();
    for (GList *l = all; l; l = l->next) {
        DmInstance *inst = l->data;
        JsonObject *d;

        if (!inst->vnc) {
            continue;
        }
        d = json_object_new();
        if (pairing_vm(inst)) {
            json_object_set_string_member(d, "vm", pairing_vm(inst));
        } else {
            json_object_set_null_member(d, "vm");
        }
        json_object_set_string_member(d, "instance", inst->child.id);
        json_object_set_string_member(d, "vnc", inst->vnc);
        if (pairing_vm(inst)) {
            pairing_json_input(s, d, "keyboard", inst, "virtio-keyboard");
            pairing_json_input(s, d, "tablet", inst, "virtio-tablet");
        } else {
            json_object_set_null_member(d, "keyboard");
            json_object_set_null_member(d, "tablet");
        }
        json_array_add_object_element(arr, d);
    }
    o = json_object_new();
    json_object_set_array_member(o, "displays", arr);
    dm_http_reply_object(msg, SOUP_STATUS_OK, o);
}
