/*
 * dmctl: HTTP/JSON calls to the orchestrator's API.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DMCTL_API_H
#define DMCTL_API_H

#include <json-glib/json-glib.h>

/* Talk HTTPS with the credentials in @dir; DMCTL_USAGE if unusable. */
int dmctl_api_tls(const char *dir);
/*
 * @method @path with @body (may be NULL).  On a 2xx answer return 0 and
 * its JSON; otherwise print "dmctl: ERROR" and return DMCTL_FAIL.
 */
int dmctl_api(const char *method, const char *path, JsonNode *body,
              JsonNode **ret_reply);
/* The same for a POST that takes long: @progress runs every @period_ms
 * meanwhile (a GET of @poll_path, its answer passed to @progress). */
int dmctl_api_watch(const char *method, const char *path, JsonNode *body,
                    const char *poll_path,
                    void (*progress)(JsonObject *o), JsonNode **ret_reply);
/* Print @node as JSON on stdout. */
void dmctl_print_json(JsonNode *node);

#endif /* DMCTL_API_H */
