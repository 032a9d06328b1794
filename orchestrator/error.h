/*
 * dm-orchestrator: its one error domain (error.c).
 *
 * The convention: the modules below the API handlers (vm.c, placement.c,
 * routes.c, qemu-args.c, launcher.c, db.c, catalogue.c, reconcile*.c ...)
 * report a failure as a GError in ORCH_ERROR, GLib's way: they return
 * false (or NULL) and set *errp, and know nothing of HTTP requests.  Only
 * the handlers (the files that implement endpoints: vms.c, lifecycle.c,
 * migrate.c, save.c, platforms.c, events.c) turn one into the API's
 * answer, with orch_fail_error() (request.h).  A code is the HTTP
 * status that answer carries; the message is its "error".
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_ERROR_H
#define ORCH_ERROR_H

#include <glib.h>

#define ORCH_ERROR (orch_error_quark())
GQuark orch_error_quark(void);

/* The HTTP statuses the API answers failures with (docs/api.md). */
typedef enum {
    ORCH_ERROR_BAD_REQUEST = 400,       /* the caller's input is wrong */
    ORCH_ERROR_NOT_FOUND = 404,         /* no such VM, platform ... */
    ORCH_ERROR_CONFLICT = 409,          /* not in this state, no room ... */
    ORCH_ERROR_INTERNAL = 500,          /* our database failed */
    ORCH_ERROR_BAD_GATEWAY = 502,       /* a launcher or QEMU failed */
    ORCH_ERROR_UNAVAILABLE = 503,       /* the database is busy */
    ORCH_ERROR_TIMEOUT = 504,           /* QEMU did not finish in time */
} OrchErrorCode;

/*
 * A failure with no message of its own (the database's): "internal error
 * (strerror(@errnum))", the words the API has always used for it.
 */
void orch_error_internal(GError **errp, int errnum);

/*
 * Bring an etcd client's error (common/etcd.h) into ORCH_ERROR: a bad
 * configuration 400, no answer 503, a refusal by etcd 500.  Others are
 * left as they are.
 */
void orch_error_from_etcd(GError **errp);

#endif /* ORCH_ERROR_H */
