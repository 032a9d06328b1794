/*
 * dm-orchestrator: the threads' store views for the records
 * (records-bind.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "records-bind.h"

static OrchStore *bind_store;
static const char *bind_root;
static bool bind_reads;
static __thread OrchStoreView **bind_slot;
static __thread char *bind_read_error;

void orch_rec_twin_open(OrchStore *s, const char *root)
{
    bind_store = s;
    bind_root = root;
}

void orch_rec_twin_bind(OrchStoreView **slot)
{
    bind_slot = slot;
}

OrchStoreView **orch_rec_twin_unbind(void)
{
    OrchStoreView **slot = bind_slot;

    bind_slot = NULL;
    return slot;
}

void orch_rec_read_store(bool on)
{
    bind_reads = on;
}

OrchStore *orch_rec_bound_store(void)
{
    return bind_store;
}

const char *orch_rec_bound_root(void)
{
    return bind_root;
}

OrchStoreView *orch_rec_bound_view(void)
{
    if (!bind_store || !bind_slot) {
        return NULL;
    }
    if (!*bind_slot) {
        *bind_slot = orch_view_new(bind_store);
    }
    return *bind_slot;
}

OrchStoreView *orch_rec_read_view(void)
{
    return bind_reads ? orch_rec_bound_view() : NULL;
}

void orch_rec_read_failed(const char *why)
{
    if (!bind_read_error) {
        bind_read_error = g_strdup(why);
    }
}

char *orch_rec_read_error_take(void)
{
    return g_steal_pointer(&bind_read_error);
}

bool orch_rec_read_error_pending(void)
{
    return bind_read_error != NULL;
}
