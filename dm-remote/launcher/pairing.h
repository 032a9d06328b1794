/*
 * dm-remote launcher: a VM's display paired with its input models on
 * this server (issue 19): the display's keyboard and tablet links point
 * at the input sockets of the keyboard and tablet bound to the same VM,
 * whichever was created first; GET /v1/displays lists one VNC display
 * per VM.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_PAIRING_H
#define DM_PAIRING_H

#include "instance.h"

/* The display bound to VM @vm other than @except, or NULL. */
DmInstance *dm_pairing_display_of(DmServer *s, const char *vm,
                                  DmInstance *except);

/*
 * @inst joined the table: point its links (a display) or its VM's
 * display's link (an input model) at the input sockets.  A failure is
 * logged: the display goes on without that input.
 */
void dm_pairing_link(DmServer *s, DmInstance *inst);

/*
 * @inst leaves the table: a display's link that pointed at its input
 * socket points at another input model of the VM, or is removed.
 */
void dm_pairing_unlink(DmServer *s, DmInstance *inst);

/* GET /v1/displays. */
void dm_pairing_handle(DmServer *s, SoupServerMessage *msg);

#endif /* DM_PAIRING_H */
