/*
 * The registry of device models.  Each model file registers itself with
 * DM_MODEL_REGISTER (a constructor), so adding a model is adding a file
 * to dm-remote/meson.build's list, not editing a table.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define DM_MODELS_MAX 64

static const DmModel *models[DM_MODELS_MAX];
static size_t num_models;

void dm_model_register(const DmModel *model)
{
    size_t i = num_models;

    if (num_models == DM_MODELS_MAX) {
        fprintf(stderr, "dm-remote: too many models, '%s' left out\n",
                model->name);
        return;
    }
    /* Keep them in name order: listings and health read them so. */
    while (i > 0 && strcmp(models[i - 1]->name, model->name) > 0) {
        models[i] = models[i - 1];
        i--;
    }
    models[i] = model;
    num_models++;
}

const DmModel *dm_model_find(const char *name)
{
    for (size_t i = 0; i < num_models; i++) {
        if (strcmp(models[i]->name, name) == 0) {
            return models[i];
        }
    }
    return NULL;
}

void dm_model_list(void (*cb)(const DmModel *m, void *opaque), void *opaque)
{
    for (size_t i = 0; i < num_models; i++) {
        cb(models[i], opaque);
    }
}

const DmProp *dm_model_find_prop(const DmModel *model, const char *name)
{
    for (const DmProp *p = model->props; p && p->name; p++) {
        if (strcmp(p->name, name) == 0) {
            return p;
        }
    }
    return NULL;
}
