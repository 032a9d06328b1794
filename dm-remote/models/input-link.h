/*
 * The input link (docs/input-link.md): where a virtio-input model's
 * events come from.  A UNIX stream socket the model listens on; one
 * client at a time (a new connection replaces the old) writes records
 * of 8 bytes, le16 type, le16 code, le32 value, batches ended by
 * EV_SYN/SYN_REPORT.  Each record is checked by the model's callback
 * (what it advertised), batches wait in a bounded queue until the guest
 * posts buffers; the oldest whole batches go when it is full.  Nothing
 * here blocks the loop.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_INPUT_LINK_H
#define DM_INPUT_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "loop.h"

/* struct virtio_input_event, in host order once read. */
typedef struct InputEvent {
    uint16_t type;
    uint16_t code;
    uint32_t value;
} InputEvent;

#define INPUT_EV_SYN    0x00
#define INPUT_SYN_REPORT 0

/* What the model says of a record: take it, or why not. */
typedef enum InputCheck {
    INPUT_OK,
    INPUT_UNKNOWN,              /* a type or code it did not advertise */
    INPUT_RANGE,                /* a value outside what it advertised */
} InputCheck;

typedef InputCheck InputCheckFn(void *opaque, const InputEvent *ev);
/* Batches were queued: the model may give them to the guest. */
typedef void InputReadyFn(void *opaque);

typedef struct InputLinkStats {
    uint64_t clients;           /* connections taken */
    uint64_t replaced;          /* of them, ones that replaced another */
    uint64_t records;           /* records taken into batches */
    uint64_t batches;           /* batches queued */
    uint64_t unknown;           /* records dropped: not advertised */
    uint64_t range;             /* records dropped: value out of range */
    uint64_t bad_syn;           /* EV_SYN records other than SYN_REPORT */
    uint64_t short_records;     /* a client gone mid-record */
    uint64_t long_batches;      /* batches longer than the queue: dropped */
    uint64_t overflow;          /* oldest batches dropped: queue full */
    uint64_t reset_dropped;     /* batches forgotten at a device reset */
    uint64_t delivered;         /* events given to the guest */
} InputLinkStats;

typedef struct InputLink InputLink;

/*
 * Listen on @path (a stale socket there is replaced; the socket is
 * 0600), queue at most @max_events events.  NULL on failure (logged).
 */
InputLink *input_link_open(DmLoop *loop, const char *path,
                           unsigned max_events, InputCheckFn *check,
                           InputReadyFn *ready, void *opaque);
/* Close the sockets, remove the path, free the queue. */
void input_link_close(InputLink *l);

/* The oldest queued event, if any (it stays queued). */
bool input_link_peek(InputLink *l, InputEvent *ev);
/* The guest took the event input_link_peek gave. */
void input_link_pop(InputLink *l);
/* Events waiting. */
unsigned input_link_queued(const InputLink *l);
/* Forget what waits (the device was reset): counted apart. */
void input_link_flush(InputLink *l);

const InputLinkStats *input_link_stats(const InputLink *l);
/* SIGUSR1: the queue, the client and the counters, logged (@who first). */
void input_link_dump(const InputLink *l, const char *who);

#endif /* DM_INPUT_LINK_H */
