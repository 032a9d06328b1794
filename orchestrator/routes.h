/*
 * dm-orchestrator: routes through an owner server's router.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_ROUTES_H
#define ORCH_ROUTES_H

#include <glib.h>

#include "request.h"
#include "vm.h"

/*
 * Ask the owner server @via_id for a route from device @dev's
 * identifiers to its @instance (placed already), DELETEd should @r fail,
 * and record it in the placement.
 */
int orch_route_add(OrchRequest *r, OrchVm *vm, const char *dev,
                   gint64 via_id, const char *instance);

#endif /* ORCH_ROUTES_H */
