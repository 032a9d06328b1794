/*
 * Model properties: parsing "NAME,prop=value,..." and storing typed
 * values into a model's state.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "props.h"

#define DM_PROPS_MAX 32

/* Copy one ','-terminated item of @p, turning ",," into ','. */
static char *next_item(const char **p)
{
    const char *s = *p;
    char *out = malloc(strlen(s) + 1), *o = out;

    if (!out) {
        return NULL;
    }
    while (*s) {
        if (*s == ',' && s[1] == ',') {
            *o++ = ',';
            s += 2;
        } else if (*s == ',') {
            s++;
            break;
        } else {
            *o++ = *s++;
        }
    }
    *o = '\0';
    *p = s;
    return out;
}

static int list_add(DmPropList *l, char *name, char *value)
{
    char **n = realloc(l->names, (l->count + 1) * sizeof(*n));
    char **v;

    if (!n) {
        return -ENOMEM;
    }
    l->names = n;
    v = realloc(l->values, (l->count + 1) * sizeof(*v));
    if (!v) {
        return -ENOMEM;
    }
    l->values = v;
    l->names[l->count] = name;
    l->values[l->count] = value;
    l->count++;
    return 0;
}

int dm_props_split(const char *spec, char **ret_name, DmPropList *ret_list,
                   char *err, size_t errlen)
{
    const char *p = spec;
    char *name = next_item(&p);

    memset(ret_list, 0, sizeof(*ret_list));
    *ret_name = NULL;
    if (!name) {
        return -ENOMEM;
    }
    if (!name[0]) {
        snprintf(err, errlen, "empty model name");
        free(name);
        return -EINVAL;
    }
    while (*p) {
        char *item = next_item(&p), *eq;

        if (!item) {
            goto nomem;
        }
        eq = strchr(item, '=');
        if (!item[0] || (eq && eq == item)) {
            snprintf(err, errlen, "empty property name in '%s'", spec);
            free(item);
            goto fail;
        }
        if (ret_list->count == DM_PROPS_MAX) {
            snprintf(err, errlen, "more than %d properties", DM_PROPS_MAX);
            free(item);
            goto fail;
        }
        /* A bare "prop" is "prop=on" (QEMU's shorthand); "help" stays bare. */
        if (eq) {
            *eq = '\0';
        }
        if (list_add(ret_list, item, eq ? eq + 1 : NULL) < 0) {
            free(item);
            goto nomem;
        }
    }
    *ret_name = name;
    return 0;

nomem:
    snprintf(err, errlen, "out of memory");
fail:
    free(name);
    dm_props_free(ret_list);
    return -EINVAL;
}

int dm_props_add(DmPropList *list, const char *name, const char *value)
{
    size_t nlen = strlen(name) + 1;
    char *item = malloc(nlen + strlen(value) + 1);

    if (!item) {
        return -ENOMEM;
    }
    memcpy(item, name, nlen);
    strcpy(item + nlen, value);
    if (list_add(list, item, item + nlen) < 0) {
        free(item);
        return -ENOMEM;
    }
    return 0;
}

void dm_props_free(DmPropList *list)
{
    for (unsigned i = 0; i < list->count; i++) {
        free(list->names[i]);   /* the value shares the allocation */
    }
    free(list->names);
    free(list->values);
    memset(list, 0, sizeof(*list));
}

const char *dm_prop_type_name(DmPropType type)
{
    switch (type) {
    case DM_PROP_STR:
        return "string";
    case DM_PROP_BOOL:
        return "bool";
    case DM_PROP_UINT:
        return "number";
    case DM_PROP_FILE:
        return "file";
    }
    return "?";
}

static bool parse_bool(const char *s, bool *ret)
{
    static const char *const yes[] = { "on", "true", "yes", "1" };
    static const char *const no[] = { "off", "false", "no", "0" };

    for (size_t i = 0; i < 4; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *ret = true;
            return true;
        }
        if (strcmp(s, no[i]) == 0) {
            *ret = false;
            return true;
        }
    }
    return false;
}

/* Decimal or 0x hexadecimal, the whole string, no sign. */
static bool parse_uint(const char *s, uint64_t *ret)
{
    char *end;

    if (!*s || *s == '-' || *s == '+' || *s == ' ') {
        return false;
    }
    errno = 0;
    *ret = strtoull(s, &end, 0);
    return !errno && !*end;
}

static int store(const DmProp *p, const char *val, void *state, char *err,
                 size_t errlen)
{
    char *field = state ? (char *)state + p->offset : NULL;
    uint64_t u;
    bool b;

    switch (p->type) {
    case DM_PROP_STR:
    case DM_PROP_FILE:
        if (p->check && p->check(val, err, errlen) < 0) {
            return -EINVAL;
        }
        if (field) {
            *(const char **)field = val;
        }
        return 0;
    case DM_PROP_BOOL:
        if (!parse_bool(val, &b)) {
            snprintf(err, errlen, "'%s' must be on or off, not '%s'",
                     p->name, val);
            return -EINVAL;
        }
        if (field) {
            *(bool *)field = b;
        }
        return 0;
    case DM_PROP_UINT:
        if (!parse_uint(val, &u) || u < p->min || u > p->max) {
            snprintf(err, errlen, "'%s' must be a number from %llu to %llu, "
                     "not '%s'", p->name, (unsigned long long)p->min,
                     (unsigned long long)p->max, val);
            return -EINVAL;
        }
        if (field) {
            *(uint64_t *)field = u;
        }
        return 0;
    }
    return -EINVAL;
}

int dm_props_apply(const DmProp *props, const DmPropList *list, void *state,
                   char *err, size_t errlen)
{
    for (unsigned i = 0; i < list->count; i++) {
        const DmProp *p = props;

        while (p && p->name && strcmp(p->name, list->names[i]) != 0) {
            p++;
        }
        if (!p || !p->name) {
            snprintf(err, errlen, "no property '%s' (MODEL,help lists them)",
                     list->names[i]);
            return -EINVAL;
        }
        for (unsigned j = 0; j < i; j++) {
            if (strcmp(list->names[j], list->names[i]) == 0) {
                snprintf(err, errlen, "property '%s' given twice",
                         list->names[i]);
                return -EINVAL;
            }
        }
        if (!list->values[i] && p->type != DM_PROP_BOOL) {
            snprintf(err, errlen, "property '%s' needs a value", p->name);
            return -EINVAL;
        }
    }
    for (const DmProp *p = props; p && p->name; p++) {
        const char *val = p->defval;
        int ret;

        for (unsigned i = 0; i < list->count; i++) {
            if (strcmp(list->names[i], p->name) == 0) {
                val = list->values[i] ? list->values[i] : "on";
            }
        }
        if (!val && p->required) {
            snprintf(err, errlen, "'%s' is required", p->name);
            return -EINVAL;
        }
        if (!val) {
            continue;           /* no default: stays zero (NULL) */
        }
        ret = store(p, val, state, err, errlen);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}
