/*
 * dm-remote launcher: an instance's model properties (see model-props.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/stat.h>

#include "json-http.h"
#include "model-props.h"
#include "vup/address.h"

/* An image name: a name (A-Z a-z 0-9 . _ -) that is not hidden. */
static bool image_name_valid(const char *name)
{
    return vup_name_valid(name) && name[0] != '.';
}

static bool image_exists(const char *images_dir, const char *name)
{
    g_autofree char *path = g_build_filename(images_dir, name, NULL);
    struct stat st;

    return stat(path, &st) == 0 &&
           (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
}

JsonObject *dm_model_props_check(const DmModel *model, const char *images_dir,
                                 JsonNode *props, unsigned *ret_status,
                                 char **ret_err)
{
    g_autoptr(JsonObject) out = json_object_new();
    g_autoptr(GList) names = NULL;
    DmPropList list = { 0 };
    char err[256];
    int ret;

    *ret_status = 400;
    if (props && !JSON_NODE_HOLDS_NULL(props) &&
        !JSON_NODE_HOLDS_OBJECT(props)) {
        *ret_err = g_strdup("'props' must be an object");
        return NULL;
    }
    if (props && JSON_NODE_HOLDS_OBJECT(props)) {
        names = json_object_get_members(json_node_get_object(props));
    }
    for (GList *l = names; l; l = l->next) {
        const char *name = l->data;
        JsonNode *n = json_object_get_member(json_node_get_object(props),
                                             name);
        const DmProp *p = dm_model_find_prop(model, name);
        g_autofree char *val = dm_json_scalar_string(n);

        /*
         * The launcher's own property of a model on a tap: the bridge
         * its tap joins (instances.c checks it against --bridges and
         * gives the model tap=; see tap.h).
         */
        if (g_str_equal(name, "bridge") &&
            dm_model_find_prop(model, "tap")) {
            if (!val || !vup_name_valid(val) || strlen(val) >= IFNAMSIZ) {
                *ret_err = g_strdup_printf("bad bridge name (1 to %d "
                                           "characters of A-Z a-z 0-9 . _ -)",
                                           IFNAMSIZ - 1);
                goto fail;
            }
            json_object_set_string_member(out, name, val);
            continue;
        }
        if (!p || g_str_equal(name, "console") ||
            g_str_equal(name, "input")) {
            *ret_err = g_strdup_printf("model '%s' has no property '%s'%s",
                                       model->name, name,
                                       !p ? "" :
                                       g_str_equal(name, "console") ?
                                       " (use \"console\": true)" :
                                       " (the launcher gives it: the "
                                       "instance's \"input\")");
            goto fail;
        }
        /*
         * Addresses the model would listen on or connect to (the
         * display's VNC server and its input links): an API client must
         * not pick a path or a port on this host.  The launcher gives
         * them when it pairs a display with its input models, and the
         * VNC password, by file (docs/launcher.md).  A tap is an
         * interface on this host: the launcher makes it ("bridge").
         */
        if (g_str_equal(name, "vnc") || g_str_equal(name, "keyboard") ||
            g_str_equal(name, "tablet") ||
            g_str_equal(name, "vnc-password") ||
            g_str_equal(name, "vnc-password-file") ||
            g_str_equal(name, "tap")) {
            *ret_err = g_strdup_printf("property '%s' of model '%s' is not "
                                       "taken through the API (%s)", name,
                                       model->name,
                                       g_str_equal(name, "tap") ?
                                       "an interface on this host: give "
                                       "\"bridge\" and the launcher makes "
                                       "the tap" :
                                       "the launcher gives it: the "
                                       "instance's \"vnc\"");
            goto fail;
        }
        if (!val || strpbrk(val, "\r\n")) {
            *ret_err = g_strdup_printf("property '%s' must be a string, a "
                                       "boolean or a number on one line",
                                       name);
            goto fail;
        }
        if (p->type == DM_PROP_FILE) {
            if (!images_dir) {
                *ret_err = g_strdup_printf("property '%s' names an image, "
                                           "but this launcher has no "
                                           "--images-dir", name);
                goto fail;
            }
            if (!image_name_valid(val)) {
                *ret_err = g_strdup_printf("bad image name '%s' (1 to %d "
                                           "characters of A-Z a-z 0-9 . _ -,"
                                           " not starting with '.')", val,
                                           VUP_NAME_MAX);
                goto fail;
            }
            if (!image_exists(images_dir, val)) {
                *ret_status = 404;
                *ret_err = g_strdup_printf("no image '%s' in %s", val,
                                           images_dir);
                goto fail;
            }
        }
        dm_props_add(&list, name, val);
        json_object_set_string_member(out, name, val);
    }
    /* The model's own checks: types, ranges, required properties. */
    ret = dm_props_apply(model->props, &list, NULL, err, sizeof(err));
    if (ret < 0) {
        *ret_err = g_strdup_printf("model '%s': %s", model->name, err);
        goto fail;
    }
    dm_props_free(&list);
    return g_steal_pointer(&out);
fail:
    dm_props_free(&list);
    return NULL;
}

void dm_model_props_spec_add(GString *spec, const char *name, const char *val)
{
    g_string_append_printf(spec, ",%s=", name);
    for (const char *c = val; *c; c++) {
        if (*c == ',') {
            g_string_append_c(spec, ',');
        }
        g_string_append_c(spec, *c);
    }
}

char *dm_model_props_spec(const DmModel *model, const char *images_dir,
                          JsonObject *props)
{
    GString *spec = g_string_new(model->name);
    g_autoptr(GList) names = props ? json_object_get_members(props) : NULL;

    for (GList *l = names; l; l = l->next) {
        const char *name = l->data;
        const char *val = json_object_get_string_member(props, name);
        const DmProp *p = dm_model_find_prop(model, name);

        if (!p) {
            continue;           /* the launcher's own: "bridge" */
        }
        if (p->type == DM_PROP_FILE) {
            g_autofree char *path = g_build_filename(images_dir, val, NULL);

            dm_model_props_spec_add(spec, name, path);
        } else {
            dm_model_props_spec_add(spec, name, val);
        }
    }
    return g_string_free(spec, FALSE);
}
