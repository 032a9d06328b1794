/*
 * JSON over HTTP, shared by the two libsoup servers (the orchestrator's
 * API, orchestrator/server.c and request.c, and the launcher's,
 * dm-remote's http.c): answering with JSON, reading a request body as a
 * JSON object within the limits, and typed members with one wording of
 * their errors.  Errors are GErrors in DM_JSON_HTTP_ERROR whose code is
 * the HTTP status to answer with.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_JSON_HTTP_H
#define DM_JSON_HTTP_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#define DM_JSON_HTTP_ERROR (dm_json_http_error_quark())
GQuark dm_json_http_error_quark(void);

/* Answer @msg with @status and @node (not taken) as JSON. */
void dm_json_http_respond(SoupServerMessage *msg, guint status,
                          JsonNode *node, bool pretty);

/*
 * @data (@len bytes) as a JSON object: NULL with a 400 error if it is
 * nested deeper than DM_JSON_MAX_DEPTH (json-glib recurses), not UTF-8,
 * not JSON or not an object.
 */
JsonObject *dm_json_http_parse_object(const char *data, gsize len,
                                      GError **err);

/*
 * @data (@len bytes) read from a peer (a launcher's answer, etcd's, the
 * orchestrator's to dmctl, a QMP line) as JSON of any type: NULL with a
 * 502 error saying what was refused if an object or array in it is
 * nested deeper than @max_depth (checked before json-glib recurses: a
 * few MB of '[' ran off the stack; DM_JSON_MAX_DEPTH unless the peer's
 * documents are deeper), if it is empty or not JSON.  The caller puts
 * its own prefix (who answered, to what) before the error's message.
 */
JsonNode *dm_json_parse_peer(const char *data, gsize len, unsigned max_depth,
                             GError **err);

/*
 * @text (NUL-terminated, may be NULL) as a JSON object, a new reference:
 * NULL if it is not one, or is nested deeper than DM_JSON_MAX_DEPTH (a
 * stored document refused as etcd's answer would be).
 */
JsonObject *dm_json_object_parse(const char *text);

/*
 * A scalar as a command line writes it (a model property): a string as
 * it is, a boolean on or off, an integer in decimal; NULL for anything
 * else.  To be freed.
 */
char *dm_json_scalar_string(JsonNode *n);

/* "an object", "an array", "a string", "a boolean" or "a number". */
const char *dm_json_type_name(JsonNode *n);

/*
 * Member @key of @o (may be NULL), a value of @type (@what names it:
 * "a string"): true with *@ret NULL when absent or null, false with a
 * 400 error when @required and absent, or of another type.
 */
bool dm_json_member(JsonObject *o, const char *key, bool required,
                    GType type, const char *what, JsonNode **ret,
                    GError **err);

#endif /* DM_JSON_HTTP_H */
