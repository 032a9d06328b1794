/*
 * A model's saved state: a model writes its fields in order with
 * dm_state_put_* and reads them back in the same order with
 * dm_state_get_*; the framework frames them in a file with the model's
 * name and state version (dm-remote serve --state-file), so that a
 * model restarted on purpose (an upgrade) comes back as it was.
 *
 * Values are little-endian on disk.  Reads never overrun: past the end,
 * or after any error, they return zeros and dm_state_ok() says false.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_STATE_H
#define DM_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct DmStateOut {
    uint8_t *buf;
    size_t len, cap;
    bool failed;                /* out of memory */
} DmStateOut;

typedef struct DmStateIn {
    const uint8_t *buf;
    size_t len, pos;
    bool failed;                /* short, or a value out of range */
} DmStateIn;

void dm_state_put(DmStateOut *o, const void *p, size_t len);
void dm_state_put_u64(DmStateOut *o, uint64_t v);

void dm_state_get(DmStateIn *in, void *p, size_t len);
uint64_t dm_state_get_u64(DmStateIn *in);
/* A model's own check of what it read: the whole load fails. */
void dm_state_fail(DmStateIn *in);
bool dm_state_ok(const DmStateIn *in);

#endif /* DM_STATE_H */
