/*
 * Model properties: typed, checked settings with help text, declared
 * once by a model and read from "--model NAME,prop=value,...".  The
 * declaration is what the command line, --model NAME,help and the
 * launcher's health all read.
 *
 * A property is stored into the model's state (DmModel.state_size
 * bytes, zeroed) at a fixed offset before the model's realize runs, the
 * way QEMU's qdev properties fill a device's struct.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_PROPS_H
#define DM_PROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum DmPropType {
    DM_PROP_STR,        /* const char * (points into the parsed list) */
    DM_PROP_BOOL,       /* bool: on/off, true/false, yes/no, 1/0 */
    DM_PROP_UINT,       /* uint64_t within [min, max] */
    /*
     * const char *: a file on the server (a disk image).  A launcher
     * takes a name in its images directory for it, never a path.
     */
    DM_PROP_FILE,
} DmPropType;

typedef struct DmProp {
    const char *name;
    DmPropType type;
    size_t offset;              /* into the model's state */
    const char *defval;         /* as written on the command line; NULL: none */
    uint64_t min, max;          /* DM_PROP_UINT */
    /* Extra check of a value's syntax: 0 or -EINVAL with a reason. */
    int (*check)(const char *val, char *err, size_t errlen);
    const char *help;
    bool required;              /* no default: it must be given */
} DmProp;

#define DM_PROP_STRING(n, S, f, def, h)                                 \
    { .name = (n), .type = DM_PROP_STR, .offset = offsetof(S, f),       \
      .defval = (def), .help = (h) }
#define DM_PROP_STRING_CHECKED(n, S, f, def, chk, h)                    \
    { .name = (n), .type = DM_PROP_STR, .offset = offsetof(S, f),       \
      .defval = (def), .check = (chk), .help = (h) }
#define DM_PROP_FILENAME(n, S, f, req, h)                               \
    { .name = (n), .type = DM_PROP_FILE, .offset = offsetof(S, f),      \
      .required = (req), .help = (h) }
#define DM_PROP_BOOLEAN(n, S, f, def, h)                                \
    { .name = (n), .type = DM_PROP_BOOL, .offset = offsetof(S, f),      \
      .defval = (def), .help = (h) }
#define DM_PROP_UINT64(n, S, f, def, lo, hi, h)                         \
    { .name = (n), .type = DM_PROP_UINT, .offset = offsetof(S, f),      \
      .defval = (def), .min = (lo), .max = (hi), .help = (h) }
#define DM_PROP_END { .name = NULL }

/*
 * A parsed "prop=value,..." list (QEMU's syntax: ",," is a literal
 * comma).  Values stay valid as long as the list.
 */
typedef struct DmPropList {
    unsigned count;
    char **names;
    char **values;
} DmPropList;

/*
 * Split "NAME[,prop=value...]" into the model's name (malloc'd, in
 * @ret_name) and its properties.  -EINVAL with a reason on bad syntax.
 */
int dm_props_split(const char *spec, char **ret_name, DmPropList *ret_list,
                   char *err, size_t errlen);
/* Append name=value (copied) to @list: 0 or -ENOMEM. */
int dm_props_add(DmPropList *list, const char *name, const char *value);
void dm_props_free(DmPropList *list);

/*
 * Check @list against @props (known names, each once, typed values,
 * ranges, extra checks) and, if @state is not NULL, store every
 * property, defaults included, into @state.  0 or -EINVAL with a reason.
 */
int dm_props_apply(const DmProp *props, const DmPropList *list, void *state,
                   char *err, size_t errlen);

/* "on" or "off", a number, or the string, as help and health print it. */
const char *dm_prop_type_name(DmPropType type);

#endif /* DM_PROPS_H */
