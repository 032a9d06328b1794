/*
 * libFuzzer target: the body of the launcher's POST /v1/instances as the
 * daemon reads it, without its HTTP server: the JSON body parser both
 * servers share (common/json-http.c, with its depth limit, json-limits.c)
 * and the model properties (dm-remote/launcher/model-props.c), checked
 * and turned into the --model argument of the instance's dm-remote.
 *
 * Properties checked:
 *  - a body that parses is no deeper than DM_JSON_MAX_DEPTH (the limit
 *    that keeps json-glib's recursion off the end of the stack);
 *  - props that pass the check come back from the --model argument
 *    exactly as given, name for name and value for value (nothing
 *    injected through commas or equals signs), a file property as a path
 *    inside the images directory.
 *
 * Input: the body, {"model": NAME, "props": {...}}.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json-http.h"
#include "json-limits.h"
#include "model-props.h"
#include "props.h"

static char images[] = "/tmp/fuzz-images-XXXXXX";
static char image[sizeof(images) + 16];

static void remove_images(void)
{
    unlink(image);
    rmdir(images);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    FILE *f;

    if (!mkdtemp(images)) {
        abort();
    }
    snprintf(image, sizeof(image), "%s/disk.img", images);
    f = fopen(image, "w");
    if (!f) {
        abort();
    }
    fclose(f);
    atexit(remove_images);
    return 0;
}

static unsigned depth(JsonNode *n)
{
    unsigned d = 0;

    if (JSON_NODE_HOLDS_OBJECT(n)) {
        g_autoptr(GList) v = json_object_get_values(json_node_get_object(n));

        for (GList *l = v; l; l = l->next) {
            unsigned e = depth(l->data);

            d = MAX(d, e);
        }
        return d + 1;
    }
    if (JSON_NODE_HOLDS_ARRAY(n)) {
        g_autoptr(GList) v = json_array_get_elements(json_node_get_array(n));

        for (GList *l = v; l; l = l->next) {
            unsigned e = depth(l->data);

            d = MAX(d, e);
        }
        return d + 1;
    }
    return 0;
}

/* The --model argument gives back exactly @props. */
static void check_spec(const DmModel *model, JsonObject *props)
{
    g_autofree char *spec = dm_model_props_spec(model, images, props);
    DmPropList list = { 0 };
    char err[256], *name;

    if (dm_props_split(spec, &name, &list, err, sizeof(err)) < 0) {
        fprintf(stderr, "our own --model refused: %s: %s\n", spec, err);
        abort();
    }
    if (strcmp(name, model->name) != 0 ||
        list.count != json_object_get_size(props)) {
        fprintf(stderr, "--model %s is not model %s with %u properties\n",
                spec, model->name, json_object_get_size(props));
        abort();
    }
    for (unsigned i = 0; i < list.count; i++) {
        const DmProp *p = dm_model_find_prop(model, list.names[i]);
        const char *want;
        g_autofree char *path = NULL;

        if (!p || !json_object_has_member(props, list.names[i])) {
            fprintf(stderr, "--model %s: property '%s' injected\n", spec,
                    list.names[i]);
            abort();
        }
        want = json_object_get_string_member(props, list.names[i]);
        if (p->type == DM_PROP_FILE) {
            path = g_build_filename(images, want, NULL);
            want = path;
        }
        if (strcmp(list.values[i], want) != 0) {
            fprintf(stderr, "--model %s: '%s' is '%s', not '%s'\n", spec,
                    list.names[i], list.values[i], want);
            abort();
        }
    }
    free(name);
    dm_props_free(&list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) body = NULL;
    g_autoptr(JsonObject) props = NULL;
    g_autofree char *why = NULL;
    g_autoptr(JsonNode) root = NULL;
    const DmModel *model;
    const char *name;
    unsigned status, d;

    body = dm_json_http_parse_object((const char *)data, size, &err);
    if (!body) {
        return 0;
    }
    root = json_node_init_object(json_node_alloc(), body);
    d = depth(root);
    if (d > DM_JSON_MAX_DEPTH) {
        fprintf(stderr, "a body %u deep passed the limit of %d\n", d,
                DM_JSON_MAX_DEPTH);
        abort();
    }
    name = json_object_has_member(body, "model") &&
           JSON_NODE_HOLDS_VALUE(json_object_get_member(body, "model")) ?
           json_object_get_string_member(body, "model") : NULL;
    model = name ? dm_model_find(name) : NULL;
    if (!model) {
        return 0;
    }
    props = dm_model_props_check(model, images,
                                 json_object_get_member(body, "props"),
                                 &status, &why);
    if (!props) {
        if (!why || (status != 400 && status != 404)) {
            abort();            /* a refusal always says why */
        }
        return 0;
    }
    check_spec(model, props);
    return 0;
}
