/*
 * Doorbells of a device: register addresses whose write only says "look"
 * (a virtio queue notify), whatever the value.  A model declares them;
 * while a client is attached each has an eventfd, watched on the loop,
 * which the client may signal instead of sending a REGION_WRITE (the
 * spec's ioeventfds, VFIO_USER_DEVICE_GET_REGION_IO_FDS).  A REGION_WRITE
 * to the same address calls the same handler: the model has one path.
 *
 * This file alone owns the doorbells' eventfds: the session lists them
 * to the client, the device opens and closes them with the client.
 * All of it runs in the event loop's thread.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_DOORBELL_H
#define DM_DOORBELL_H

#include <stdbool.h>
#include <stdint.h>

#include "loop.h"

/* As many as the queues a virtio model may have. */
#define DM_MAX_DOORBELLS 64

typedef void DmDoorbellFn(void *opaque);

typedef struct DmDoorbells DmDoorbells;

typedef struct DmDoorbell {
    DmDoorbells *table;
    unsigned region;
    uint64_t offset;
    uint32_t size;              /* 1, 2, 4, 8, or 0: a write of any width */
    DmDoorbellFn *fn;
    void *opaque;
    int fd;                     /* eventfd while a client is attached, or -1 */
    bool taken;                 /* watched by an I/O thread, not the loop */
    unsigned deferred;          /* rounds it waited for the client's messages */
} DmDoorbell;

struct DmDoorbells {
    DmDoorbell bells[DM_MAX_DOORBELLS];
    unsigned count;
    DmLoop *loop;
    /*
     * Has the client sent messages we have not served yet?  Then a
     * doorbell waits for them: a kick is handled after every write the
     * client made before it (a queue's set-up, say), as a REGION_WRITE
     * kick would be.  Set while a client is attached.
     */
    bool (*client_busy)(void *opaque);
    void *busy_opaque;
    /* Kicks handled, through an eventfd or through a region write. */
    uint64_t kicks_fd;
    uint64_t kicks_write;
};

/*
 * Declare a doorbell at [@offset, +@size) of @region (@size 0: any write
 * at @offset).  0, -EINVAL (a bad size, overlapping another doorbell) or
 * -ENOSPC.
 */
int dm_doorbell_add(DmDoorbells *t, unsigned region, uint64_t offset,
                    uint32_t size, DmDoorbellFn *fn, void *opaque);

/*
 * A client attached: a fresh eventfd for each doorbell, watched on
 * @loop.  A doorbell whose eventfd cannot be made stays reachable by
 * region writes only.
 */
void dm_doorbells_open(DmDoorbells *t, DmLoop *loop,
                       bool (*client_busy)(void *opaque), void *busy_opaque);
/*
 * The client went: close the eventfds (a kick still in one is dropped;
 * a model catches up when the next client wires its interrupts).  The
 * next client gets new ones, never the eventfds an old client may still
 * hold.
 */
void dm_doorbells_close(DmDoorbells *t);

/*
 * A region write of @len bytes at @offset: when it is a doorbell's, call
 * its handler and return true; false for an ordinary register.
 */
bool dm_doorbells_write(DmDoorbells *t, unsigned region, uint64_t offset,
                        uint32_t len);

/*
 * Ring the doorbell at @offset of @region, whatever its width (a
 * DM_VQ_KICK): true, or false when there is none.
 */
bool dm_doorbells_ring(DmDoorbells *t, unsigned region, uint64_t offset);

/*
 * An I/O thread watches the doorbell at @offset of @region instead of
 * the loop: its eventfd, or -1 (none, or taken).  Given back, the loop
 * watches it again.
 */
int dm_doorbell_take(DmDoorbells *t, unsigned region, uint64_t offset);
void dm_doorbell_give_back(DmDoorbells *t, unsigned region,
                           uint64_t offset);

/*
 * The doorbells of @region, in declaration order: how many there are;
 * the first @max of them in @ret (may be NULL with @max 0).
 */
unsigned dm_doorbells_of_region(DmDoorbells *t, unsigned region,
                                const DmDoorbell **ret, unsigned max);

#endif /* DM_DOORBELL_H */
