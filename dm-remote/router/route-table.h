/*
 * The owner server's route table: immutable tables shared by reference
 * between the accept loop and the sessions that started with them, and
 * their source (--route plus the --routes-file, read again per session).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_ROUTE_TABLE_H
#define DM_ROUTE_TABLE_H

#include <stddef.h>

#include "vup/caps.h"
#include "address.h"

/* One entry: sessions for @device_model (and @vm, if set) go to @target. */
typedef struct DmRoute {
    char device_model[VUP_ID_MAX + 1];
    char vm[VUP_ID_MAX + 1];    /* "" = any */
    DmAddress target;
} DmRoute;

/*
 * Parse "DEVICE_MODEL=ADDRESS[,vm=VM]"; -EINVAL with a reason in @err.
 */
int dm_route_parse(const char *str, DmRoute *ret_route, char *err,
                   size_t errlen);

/*
 * An immutable table, shared by the accept loop (its current one) and the
 * sessions that started with it; freed with its last reference.
 */
typedef struct RouteTable {
    int refs;
    unsigned n;
    DmRoute routes[];
} RouteTable;

/* Where the table comes from.  Accept loop only. */
typedef struct RouteSource {
    const DmRoute *fixed;       /* --route: always apply */
    unsigned nfixed;
    const char *path;           /* --routes-file, or NULL */
    char *seen;                 /* the file as last read; NULL: unread */
    size_t seen_len;
    int seen_errno;             /* the last read failed (logged) */
    RouteTable *table;
} RouteSource;

/* A table of @a then @b (either may be empty); NULL without memory. */
RouteTable *route_table_new(const DmRoute *a, unsigned na,
                            const DmRoute *b, unsigned nb);
RouteTable *route_table_ref(RouteTable *t);
void route_table_unref(RouteTable *t);

/*
 * Read the routes file again; a change is parsed (and a bad one logged)
 * once, an unchanged file costs one read.
 */
void route_source_refresh(RouteSource *s);

/*
 * The route for a session with identifiers @caps: one for its VM, else one
 * for any VM.  Only routes for other VMs: NULL with EPERM in @ret_err;
 * none at all: EHOSTUNREACH.
 */
const DmRoute *route_find(const RouteTable *t, const VupCaps *caps,
                          int *ret_err);

#endif /* DM_ROUTE_TABLE_H */
