/*
 * libFuzzer target: the router's routes file (dm-remote/router
 * route-table.c), read as dm-remote route reads it for each session,
 * then asked for a session's route.
 *
 * Input: the file's bytes.  The file is a memfd, read through its
 * /proc/self/fd path; a --route given on the command line stands before
 * the file's routes, as in the product.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "route-table.h"

static int file_fd = -1;
static char file_path[64];
static DmRoute fixed;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];

    file_fd = memfd_create("fuzz-routes", MFD_CLOEXEC);
    if (file_fd < 0 ||
        dm_route_parse("edu0=unix:/run/edu0.sock,vm=vm1", &fixed, err,
                       sizeof(err)) < 0) {
        abort();
    }
    snprintf(file_path, sizeof(file_path), "/proc/self/fd/%d", file_fd);
    return 0;
}

/* The route for a session presenting @dm and @vm. */
static void find(const RouteTable *t, const char *dm, const char *vm)
{
    VupCaps caps;
    int err = 0;
    const DmRoute *r;

    vup_caps_init_defaults(&caps);
    snprintf(caps.ids[VUP_ID_DEVICE_MODEL], VUP_ID_MAX + 1, "%s", dm);
    snprintf(caps.ids[VUP_ID_VM], VUP_ID_MAX + 1, "%s", vm);
    r = route_find(t, &caps, &err);
    if (!r && err != EPERM && err != EHOSTUNREACH) {
        abort();                /* a refusal always says which */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    RouteSource src = {
        .fixed = &fixed,
        .nfixed = 1,
        .path = file_path,
    };

    if (ftruncate(file_fd, 0) < 0 ||
        (size && pwrite(file_fd, data, size, 0) != (ssize_t)size)) {
        abort();
    }
    src.table = route_table_new(&fixed, 1, NULL, 0);
    route_source_refresh(&src);
    route_source_refresh(&src);     /* unchanged: kept as it is */
    find(src.table, "edu0", "vm1");
    find(src.table, "edu0", "vm2");
    /* The first route of the file, if it has one, for its own VM. */
    if (src.table->n > 1) {
        find(src.table, src.table->routes[1].device_model,
             src.table->routes[1].vm);
    }
    route_table_unref(src.table);
    free(src.seen);
    return 0;
}
