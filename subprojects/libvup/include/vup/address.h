/*
 * The project's one vocabulary for where things are and what they are
 * called, shared by the QEMU fork, dm-remote and the orchestrator:
 *
 *   addresses    "unix:PATH" or "tcp:HOST:PORT" (IPv6 as tcp:[ADDR]:PORT)
 *   names        1 to 64 of A-Z a-z 0-9 . _ -, not "." or ".." (they
 *                name files and directories too)
 *   identifiers  presented in VERSION (dm_ids: vm, hypervisor, ...):
 *                the same characters, 1 to VUP_ID_MAX (128) bytes, so
 *                that a name with a suffix fits (the orchestrator's
 *                default hypervisor is "CLIENT-qemu"); every name is one
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef VUP_ADDRESS_H
#define VUP_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

#include "vup/caps.h"           /* VUP_ID_MAX */

#define VUP_ADDRESS_PATH_MAX 107        /* sun_path less its NUL */
#define VUP_ADDRESS_HOST_MAX 255
#define VUP_NAME_MAX 64

typedef enum VupAddressKind {
    VUP_ADDRESS_UNIX,
    VUP_ADDRESS_TCP,
} VupAddressKind;

typedef struct VupAddress {
    VupAddressKind kind;
    char path[VUP_ADDRESS_PATH_MAX + 1];        /* unix: */
    char host[VUP_ADDRESS_HOST_MAX + 1];        /* tcp:, without [] */
    char port[6];                               /* tcp:, 0..65535 */
} VupAddress;

/*
 * Parse @str into @ret (untouched on failure): 0, or -EINVAL with a
 * reason in @err (if not NULL).
 */
int vup_address_parse(const char *str, VupAddress *ret, char *err,
                      size_t errlen);

/* Is @name a valid name (VM, platform, device model, instance)? */
bool vup_name_valid(const char *name);

/*
 * Is @id a valid identifier to present in VERSION (not the token, which
 * is a secret of any bytes)?
 */
bool vup_id_valid(const char *id);

#endif /* VUP_ADDRESS_H */
