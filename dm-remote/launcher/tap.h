/*
 * dm-remote launcher: the taps it makes for network models on the
 * server (a virtio-net instance created with "bridge": the launcher
 * makes a persistent tap named after the instance, attaches it to that
 * bridge, gives the model tap=, and deletes the tap with the instance).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_LAUNCHER_TAP_H
#define DM_LAUNCHER_TAP_H

#include <stdbool.h>

/*
 * The tap of instance @id: "dmt" and 12 hex digits of the id's SHA-256
 * (an interface name has at most 15 bytes; an id up to VUP_NAME_MAX).
 */
char *dm_tap_name(const char *id);

/* Whether @bridge is in the allow-list @bridges (NULL: none). */
bool dm_tap_bridge_allowed(char **bridges, const char *bridge);

/* Whether the interface @bridge exists here and is a bridge. */
bool dm_tap_bridge_exists(const char *bridge);

/*
 * Whether the interface @bridge is up (administratively): a tap on a
 * bridge that is down passes no frame, and the guest only sees silence.
 */
bool dm_tap_bridge_up(const char *bridge);

/*
 * Make tap @name persistent, owned by our uid, up and attached to
 * @bridge.  A leftover tap of that name is taken over.  0, or -errno
 * with a reason in *@ret_err (then no tap is left).
 */
int dm_tap_create(const char *name, const char *bridge, char **ret_err);

/* Delete tap @name (persistence off, the last file closed); quiet if
 * it is already gone. */
void dm_tap_delete(const char *name);

#endif /* DM_LAUNCHER_TAP_H */
