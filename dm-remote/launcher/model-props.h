/*
 * dm-remote launcher: the properties an instance's model is started
 * with ("props" of POST /v1/instances), checked against the model's own
 * declaration; a file property names an image in the launcher's
 * --images-dir, never a path.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_LAUNCHER_MODEL_PROPS_H
#define DM_LAUNCHER_MODEL_PROPS_H

#include <json-glib/json-glib.h>

#include "model.h"

/*
 * Check @props (a JSON object of strings, booleans or numbers; NULL: none)
 * for @model: each a declared property other than "console" (the
 * instance's console option), "input" (the launcher places an
 * input link itself) and the addresses and interfaces on this host
 * (vnc, keyboard, tablet, tap), with a value the model accepts, or
 * "bridge" for a model with a tap (the launcher's, see tap.h); a file
 * property an image name found in @images_dir.  Returns the properties
 * as strings (a new object), or NULL with an HTTP status in @ret_status
 * (400, or 404 for a missing image) and a message in @ret_err.
 */
JsonObject *dm_model_props_check(const DmModel *model, const char *images_dir,
                                 JsonNode *props, unsigned *ret_status,
                                 char **ret_err);

/* Append ",@name=@val" to @spec, commas doubled (the props syntax). */
void dm_model_props_spec_add(GString *spec, const char *name,
                             const char *val);

/*
 * The --model argument: "NAME,prop=value,..." with file properties made
 * paths in @images_dir and commas doubled ("bridge" left out: the
 * caller adds tap=).  @props as checked.
 */
char *dm_model_props_spec(const DmModel *model, const char *images_dir,
                          JsonObject *props);

#endif /* DM_LAUNCHER_MODEL_PROPS_H */
