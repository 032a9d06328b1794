/*
 * dm-orchestrator: the device models it knows how to attach, and the bus
 * each one sits on in the guest.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_MODELS_H
#define ORCH_MODELS_H

#include <stddef.h>
#include <string.h>

typedef struct OrchModel {
    const char *name;
    const char *bus;            /* "pci" or "isa" */
    int is_console;             /* a UART: the guest's console */
} OrchModel;

static const OrchModel orch_models[] = {
    { "edu", "pci", 0 },
    { "edu-msix", "pci", 0 },
    { "uart16550", "isa", 1 },
};

static inline const OrchModel *orch_model_find(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(orch_models) / sizeof(orch_models[0]); i++) {
        if (strcmp(orch_models[i].name, name) == 0) {
            return &orch_models[i];
        }
    }
    return NULL;
}

#endif /* ORCH_MODELS_H */
