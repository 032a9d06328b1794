/*
 * dm-orchestrator: /v1/platforms (platforms.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_PLATFORMS_H
#define ORCH_PLATFORMS_H

#include "request.h"

int orch_platform_list(OrchRequest *r);
int orch_platform_get(OrchRequest *r);
int orch_platform_add(OrchRequest *r);
int orch_platform_remove(OrchRequest *r);

#endif /* ORCH_PLATFORMS_H */
