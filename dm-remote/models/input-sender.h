/*
 * The sending end of the input link (docs/input-link.md): records of
 * struct virtio_input_event (le16 type, le16 code, le32 value) on a UNIX
 * stream socket a virtio-input model listens on, a batch ended by
 * EV_SYN/SYN_REPORT.  The display's VNC server is the sender.
 *
 * Never blocks: it connects lazily and without waiting, reconnects when
 * the model restarted, and drops (and counts) a batch when the link is
 * down or the socket is full.  Thread-safe: VNC viewers' threads call it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_INPUT_SENDER_H
#define DM_INPUT_SENDER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct DmInputEvent {
    uint16_t type;
    uint16_t code;
    int32_t value;
} DmInputEvent;

typedef struct DmInputSender DmInputSender;

/* Is @val an input link's address (unix:PATH)?  0 or -EINVAL, why in @err. */
int dm_input_sender_check_addr(const char *val, char *err, size_t errlen);

/* A link to @addr (checked by dm_input_sender_check_addr); not connected. */
DmInputSender *dm_input_sender_new(const char *addr);
void dm_input_sender_free(DmInputSender *l);

/*
 * Send @n events and an EV_SYN/SYN_REPORT after them, whole or not at
 * all: true when sent, false when dropped (counted).
 */
bool dm_input_sender_send(DmInputSender *l, const DmInputEvent *ev, unsigned n);

/* Batches sent and dropped so far. */
void dm_input_sender_stats(DmInputSender *l, uint64_t *sent, uint64_t *dropped);

#endif /* DM_INPUT_SENDER_H */
