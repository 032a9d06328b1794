/*
 * The launcher's HTTP/JSON helpers: replies, request bodies, deferred
 * answers.  They call nothing above them (api.h routes requests).
 *
 * Every reply is application/json; errors are {"error": "..."}.  Helpers
 * that validate a request reply themselves when they fail (the HTTP
 * handler is the edge where errors are reported) and return -errno.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_HTTP_H
#define DM_HTTP_H

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

/* Reply @status with @body (taken). */
void dm_http_reply(SoupServerMessage *msg, guint status, JsonNode *body);
void dm_http_reply_object(SoupServerMessage *msg, guint status,
                          JsonObject *obj);
void dm_http_error(SoupServerMessage *msg, guint status, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

/* 405 with an Allow header, e.g. "GET, DELETE". */
void dm_http_not_allowed(SoupServerMessage *msg, const char *allow);

/* 405 unless the method is @method. */
int dm_http_want_method(SoupServerMessage *msg, const char *method);

/* The request body as a JSON object (new reference), or 400. */
int dm_http_body_object(SoupServerMessage *msg, JsonObject **ret_obj);

/*
 * Optional string member @name of @obj: *@ret_str is NULL when absent or
 * null.
 * A present member of another type is a 400.
 */
int dm_http_member_string(SoupServerMessage *msg, JsonObject *obj,
                          const char *name, const char **ret_str);

/*
 * Answering later: dm_http_defer() pauses @msg and keeps a reference;
 * dm_http_resume() sends whatever reply was set meanwhile and drops it.
 * Safe even if the client went away in between.
 */
void dm_http_defer(SoupServerMessage *msg);
void dm_http_resume(SoupServerMessage *msg);

/*
 * Reply @status with @obj (taken) to the deferred request in *@waiting,
 * if any, and clear it; with none, @obj is dropped.
 */
void dm_http_answer_waiting(SoupServerMessage **waiting, guint status,
                            JsonObject *obj);
/* The same with {"error": @text}. */
void dm_http_answer_waiting_error(SoupServerMessage **waiting, guint status,
                                  const char *text);

#endif /* DM_HTTP_H */
