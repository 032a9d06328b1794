/*
 * libFuzzer target: the VERSION capabilities JSON (libvup caps.c).
 *
 * The input is the JSON as a peer sends it.  What parses must survive
 * the round trip: formatted again and parsed, it gives the same
 * capabilities (compared by their formatting); negotiation with our own
 * defaults must not fail either.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vup/caps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    VupCaps caps, again, ours, both;
    char err[160], *json, *json2;
    void *buf;
    size_t len;
    uint16_t major, minor;

    if (vup_caps_parse((const char *)data, size, &caps, err,
                       sizeof(err)) < 0) {
        if (!memchr(err, '\0', sizeof(err)) || !err[0]) {
            abort();            /* a failure always says why */
        }
        return 0;
    }
    json = vup_caps_format(&caps);
    if (!json) {
        abort();
    }
    if (vup_caps_parse(json, strlen(json) + 1, &again, err,
                       sizeof(err)) < 0) {
        fprintf(stderr, "our own JSON refused: %s\n%s\n", err, json);
        abort();
    }
    json2 = vup_caps_format(&again);
    if (!json2 || strcmp(json, json2) != 0) {
        fprintf(stderr, "round trip differs:\n%s\n%s\n", json, json2);
        abort();
    }
    free(json);
    free(json2);

    vup_caps_init_defaults(&ours);
    vup_caps_negotiate(&ours, &caps, &both);
    if (vup_version_build(0, 0, &both, &buf, &len) < 0 ||
        vup_version_parse(buf, len, &major, &minor, &again, err,
                          sizeof(err)) < 0) {
        fprintf(stderr, "negotiated capabilities refused: %s\n", err);
        abort();
    }
    free(buf);
    return 0;
}
