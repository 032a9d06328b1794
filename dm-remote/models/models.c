/*
 * The registry of device models.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "../device.h"

extern const DmModel dm_model_edu;
extern const DmModel dm_model_edu_msix;
extern const DmModel dm_model_uart16550;

static const DmModel *const models[] = {
    &dm_model_edu,
    &dm_model_edu_msix,
    &dm_model_uart16550,
};

const DmModel *dm_model_find(const char *name)
{
    for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
        if (strcmp(models[i]->name, name) == 0) {
            return models[i];
        }
    }
    return NULL;
}

void dm_model_list(void (*cb)(const DmModel *m, void *opaque), void *opaque)
{
    for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
        cb(models[i], opaque);
    }
}
