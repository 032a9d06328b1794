/*
 * Addresses of the orchestrator and of launchers: "unix:PATH" and
 * "tcp:HOST:PORT".  Shared by dm-orchestrator and dmctl.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_ADDRESS_H
#define ORCH_ADDRESS_H

#include <gio/gio.h>

/* Check @str's syntax; on failure return FALSE with a reason. */
gboolean orch_address_valid(const char *str, GError **errp);

/* Something a SoupSession or GSocketClient can connect to. */
GSocketConnectable *orch_address_connectable(const char *str,
                                             GError **errp);

/*
 * A listening socket for @str.  A stale UNIX socket file (nobody
 * answering) is replaced; a live one is refused.
 */
GSocket *orch_address_listen(const char *str, GError **errp);

/* Remove what listening on @str left behind (its socket file). */
void orch_address_cleanup(const char *str);

#endif /* ORCH_ADDRESS_H */
