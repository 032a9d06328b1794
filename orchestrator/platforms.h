/*
 * dm-orchestrator: /v1/platforms (platforms.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_PLATFORMS_H
#define ORCH_PLATFORMS_H

#include <stdbool.h>
#include <json-glib/json-glib.h>

#include "request.h"

int orch_platform_list(OrchRequest *r);
int orch_platform_get(OrchRequest *r);
int orch_platform_add(OrchRequest *r);
int orch_platform_remove(OrchRequest *r);
/* A launcher's health says "model_tls": true (false if absent or odd). */
bool orch_health_model_tls(JsonObject *health);

#endif /* ORCH_PLATFORMS_H */
