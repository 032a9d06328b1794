/*
 * dm-orchestrator: a launcher's answer, once it has come
 * (launcher-reply.c): below the transport (launcher.h), which reads its
 * answers with it, and the API's fuzz target's fake launcher too.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_LAUNCHER_REPLY_H
#define ORCH_LAUNCHER_REPLY_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>

/*
 * A launcher's answer body, the @len bytes at @data, as JSON: *@ret_reply
 * is NULL for no body; false with an ORCH_ERROR_BAD_GATEWAY naming
 * @address, @method and @path if it is not JSON, or nested deeper than
 * the API's bodies may be.
 */
bool orch_launcher_answer(const char *address, const char *method,
                          const char *path, const void *data, gsize len,
                          JsonNode **ret_reply, GError **errp);
/* The launcher's {"error": "..."} or a description of its answer. */
const char *orch_launcher_reason(JsonNode *reply, guint status);
/* String member @key of a launcher's answer @o, NULL if absent or not one. */
const char *orch_launcher_str(JsonObject *o, const char *key);

#endif /* ORCH_LAUNCHER_REPLY_H */
