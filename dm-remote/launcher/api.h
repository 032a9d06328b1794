/*
 * The launcher's API: /v1/health and the role's collections
 * (instances.c, routes.c, vms.c), over the helpers of http.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_API_H
#define DM_API_H

#include <libsoup/soup.h>

#include "launcher.h"

/* Route every request of @server to the role's endpoints. */
void dm_api_attach(SoupServer *server, DmDaemon *d);

#endif /* DM_API_H */
