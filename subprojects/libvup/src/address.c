/*
 * Addresses and identifiers: one parser, one rule.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vup/address.h"

#define ERR(...) do { if (err) snprintf(err, errlen, __VA_ARGS__); } while (0)

static int parse_unix(const char *str, const char *path, VupAddress *a,
                      char *err, size_t errlen)
{
    if (!*path) {
        ERR("empty path in '%s'", str);
        return -EINVAL;
    }
    if (strlen(path) > VUP_ADDRESS_PATH_MAX) {
        ERR("socket path too long (max %d bytes): %s", VUP_ADDRESS_PATH_MAX,
            path);
        return -EINVAL;
    }
    a->kind = VUP_ADDRESS_UNIX;
    strcpy(a->path, path);
    return 0;
}

static int parse_tcp(const char *str, const char *hp, VupAddress *a,
                     char *err, size_t errlen)
{
    const char *colon, *p;
    size_t hlen;
    long port = 0;

    if (*hp == '[') {           /* [IPv6]:PORT */
        const char *close = strchr(hp, ']');

        if (!close || close[1] != ':') {
            ERR("bad IPv6 address in '%s' (expected tcp:[ADDR]:PORT)", str);
            return -EINVAL;
        }
        hp++;
        hlen = close - hp;
        colon = close + 1;
    } else {
        colon = strrchr(hp, ':');
        if (!colon) {
            ERR("missing port in '%s' (expected tcp:HOST:PORT)", str);
            return -EINVAL;
        }
        hlen = colon - hp;
    }
    /* Digits only: no sign, no spaces, at most 5 of them. */
    for (p = colon + 1; *p >= '0' && *p <= '9' && p - colon <= 5; p++) {
        port = port * 10 + (*p - '0');
    }
    /* An IPv6 address needs its brackets: "tcp:::1:80" is ambiguous. */
    if (hlen == 0 || hlen > VUP_ADDRESS_HOST_MAX ||
        (memchr(hp, ':', hlen) && hp[-1] != '[') ||
        *p || p == colon + 1 || port > 65535) {
        ERR("bad host or port in '%s'", str);
        return -EINVAL;
    }
    a->kind = VUP_ADDRESS_TCP;
    memcpy(a->host, hp, hlen);
    a->host[hlen] = '\0';
    snprintf(a->port, sizeof(a->port), "%hu", (unsigned short)port);
    return 0;
}

int vup_address_parse(const char *str, VupAddress *ret, char *err,
                      size_t errlen)
{
    VupAddress a = { 0 };
    int r;

    if (strncmp(str, "unix:", 5) == 0) {
        r = parse_unix(str, str + 5, &a, err, errlen);
    } else if (strncmp(str, "tcp:", 4) == 0) {
        r = parse_tcp(str, str + 4, &a, err, errlen);
    } else {
        ERR("unsupported address '%s' (expected unix:PATH or tcp:HOST:PORT)",
            str);
        r = -EINVAL;
    }
    if (r == 0) {
        *ret = a;
    }
    return r;
}

/* 1 to @max of the names' characters, not "." or "..". */
static bool word_valid(const char *word, size_t max)
{
    size_t len = strlen(word);

    /* "." and ".." name directories, never a VM or a model. */
    return len >= 1 && len <= max && strcmp(word, ".") != 0 &&
           strcmp(word, "..") != 0 &&
           strspn(word, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        "0123456789._-") == len;
}

bool vup_name_valid(const char *name)
{
    return word_valid(name, VUP_NAME_MAX);
}

bool vup_id_valid(const char *id)
{
    return word_valid(id, VUP_ID_MAX);
}
