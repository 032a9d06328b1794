/*
 * The launcher's API: /v1/health and the role's collections
 * (instances.c, routes.c, vms.c), over the helpers of http.c.  Above
 * every role module, below daemon.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_API_H
#define DM_API_H

#include <libsoup/soup.h>

#include "fence.h"
#include "instance.h"
#include "launcher.h"
#include "vm.h"

/*
 * What the API serves: the shared context and the role's state, @server
 * (the server role) or @client (the client role; the other is NULL).
 */
typedef struct DmApi {
    DmLauncher *l;
    DmServer *server;
    DmClient *client;
    DmFence fence;              /* the highest leadership token seen */
} DmApi;

/* What GET /v1/health answers: role, model_tls, the role's models. */
JsonObject *dm_api_health(DmApi *a);

/* Route every request of @soup to the role's endpoints; @api outlives it. */
void dm_api_attach(SoupServer *soup, DmApi *api);

#endif /* DM_API_H */
