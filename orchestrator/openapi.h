/*
 * dm-orchestrator: GET /v1/openapi.json, the API described in OpenAPI
 * 3.0 (openapi.c).  The document is orchestrator/openapi.json, built
 * into the program (a GResource) and installed beside the web console;
 * tests/orchestrator/test-openapi.py checks it against the routes.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_OPENAPI_H
#define ORCH_OPENAPI_H

#include "request.h"

int orch_openapi_get(OrchRequest *r);

#endif /* ORCH_OPENAPI_H */
