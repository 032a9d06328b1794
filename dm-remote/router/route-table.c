/*
 * The owner server's route table (see route-table.h): parsing routes,
 * the --routes-file that is read again for every session, and the
 * choice of a route for a session's identifiers.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "route-table.h"

#define ROUTE_FILE_MAX      (1024 * 1024)
#define ROUTE_FILE_ROUTES   4096
int dm_route_parse(const char *str, DmRoute *ret_route, char *err,
                   size_t errlen)
{
    DmRoute r = { 0 };
    const char *eq = strchr(str, '=');
    char *addr, *comma;
    int ret;

    if (!eq || eq == str || eq - str > VUP_ID_MAX) {
        snprintf(err, errlen, "'%s' is not DEVICE_MODEL=ADDRESS[,vm=VM]",
                 str);
        return -EINVAL;
    }
    memcpy(r.device_model, str, eq - str);
    addr = strdup(eq + 1);
    if (!addr) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    comma = strstr(addr, ",vm=");
    if (comma) {
        if (strlen(comma + 4) == 0 || strlen(comma + 4) > VUP_ID_MAX) {
            snprintf(err, errlen, "bad vm in '%s'", str);
            free(addr);
            return -EINVAL;
        }
        strcpy(r.vm, comma + 4);
        *comma = '\0';
    }
    ret = dm_address_parse(addr, &r.target, err, errlen);
    free(addr);
    if (ret < 0) {
        return ret;
    }
    *ret_route = r;
    return 0;
}

RouteTable *route_table_new(const DmRoute *a, unsigned na,
                                   const DmRoute *b, unsigned nb)
{
    RouteTable *t = malloc(sizeof(*t) + (size_t)(na + nb) * sizeof(DmRoute));

    if (!t) {
        return NULL;
    }
    t->refs = 1;
    t->n = na + nb;
    if (na) {
        memcpy(t->routes, a, na * sizeof(DmRoute));
    }
    if (nb) {
        memcpy(t->routes + na, b, nb * sizeof(DmRoute));
    }
    return t;
}

RouteTable *route_table_ref(RouteTable *t)
{
    __atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
    return t;
}

void route_table_unref(RouteTable *t)
{
    if (t && __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        free(t);
    }
}

/* The whole of @path (at most ROUTE_FILE_MAX bytes), NUL-terminated. */
static int route_read_file(const char *path, char **ret_buf,
                           size_t *ret_len)
{
    size_t len = 0, cap = 4096;
    char *buf = NULL, *grown;
    int fd, ret = 0;
    ssize_t n;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        return -errno;
    }
    for (;;) {
        if (len + 1 >= cap || !buf) {
            cap = buf ? cap * 2 : cap;
            if (cap > 2 * ROUTE_FILE_MAX) {
                ret = -EFBIG;
                break;
            }
            grown = realloc(buf, cap);
            if (!grown) {
                ret = -ENOMEM;
                break;
            }
            buf = grown;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            ret = n < 0 ? -errno : 0;
            break;
        }
        len += n;
    }
    close(fd);
    if (ret == 0 && len > ROUTE_FILE_MAX) {
        ret = -EFBIG;
    }
    if (ret < 0) {
        free(buf);
        return ret;
    }
    buf[len] = '\0';
    *ret_buf = buf;
    *ret_len = len;
    return 0;
}

/*
 * One route a line, "#" comments and blank lines; @text is cut up.  On a
 * bad line -EINVAL with @err (" line N: why") naming it.
 */
static int route_parse_lines(char *text, DmRoute **ret_routes,
                             unsigned *ret_n, char *err, size_t errlen)
{
    DmRoute *routes = NULL, *grown;
    unsigned n = 0, cap = 0, lineno = 0;
    char *line, *next, *end, why[384];

    for (line = text; line; line = next) {
        lineno++;
        next = strchr(line, '\n');
        if (next) {
            *next++ = '\0';
        }
        while (isspace((unsigned char)*line)) {
            line++;
        }
        end = line + strlen(line);
        while (end > line && isspace((unsigned char)end[-1])) {
            *--end = '\0';
        }
        if (!*line || *line == '#') {
            continue;
        }
        if (n == ROUTE_FILE_ROUTES) {
            snprintf(err, errlen, " line %u: more than %d routes", lineno,
                     ROUTE_FILE_ROUTES);
            free(routes);
            return -EINVAL;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            grown = realloc(routes, cap * sizeof(*routes));
            if (!grown) {
                snprintf(err, errlen, ": out of memory");
                free(routes);
                return -ENOMEM;
            }
            routes = grown;
        }
        if (dm_route_parse(line, &routes[n], why, sizeof(why)) < 0) {
            snprintf(err, errlen, " line %u: %s", lineno, why);
            free(routes);
            return -EINVAL;
        }
        n++;
    }
    *ret_routes = routes;
    *ret_n = n;
    return 0;
}

/* Parse a new content of the routes file into s->table. */
static void route_source_load(RouteSource *s, const char *text, size_t len)
{
    char err[512] = ": out of memory";
    DmRoute *routes = NULL;
    RouteTable *t;
    unsigned n = 0;
    char *copy;
    int ret;

    if (memchr(text, '\0', len)) {
        dm_error("routes file %s: a NUL byte; keeping the last good routes",
                 s->path);
        return;
    }
    copy = strdup(text);
    ret = copy ? route_parse_lines(copy, &routes, &n, err, sizeof(err)) :
          -ENOMEM;
    free(copy);
    if (ret < 0) {
        dm_error("routes file %s%s; keeping the last good routes", s->path,
                 err);
        return;
    }
    t = route_table_new(s->fixed, s->nfixed, routes, n);
    free(routes);
    if (!t) {
        dm_error("routes file %s: out of memory", s->path);
        return;
    }
    route_table_unref(s->table);
    s->table = t;
    dm_info("routes file %s: %u route(s)", s->path, n);
}

/*
 * Read the routes file again; a change is parsed (and a bad one logged)
 * once, an unchanged file costs one read.
 */
void route_source_refresh(RouteSource *s)
{
    char *buf = NULL;
    size_t len = 0;
    int ret;

    if (!s->path) {
        return;
    }
    ret = route_read_file(s->path, &buf, &len);
    if (ret < 0) {
        if (s->seen || s->seen_errno != -ret) {
            dm_error("routes file %s: %s; keeping the last good routes",
                     s->path, strerror(-ret));
        }
        free(s->seen);
        s->seen = NULL;
        s->seen_errno = -ret;
        return;
    }
    if (s->seen && len == s->seen_len && memcmp(buf, s->seen, len) == 0) {
        free(buf);
        return;
    }
    free(s->seen);
    s->seen = buf;
    s->seen_len = len;
    s->seen_errno = 0;
    route_source_load(s, buf, len);
}

/*
 * The route for this session: one for its VM, else one for any VM.  Only
 * routes for other VMs: EPERM; none at all: EHOSTUNREACH.
 */
const DmRoute *route_find(const RouteTable *t, const VupCaps *caps,
                                 int *ret_err)
{
    const char *dm = caps->ids[VUP_ID_DEVICE_MODEL];
    const char *vm = caps->ids[VUP_ID_VM];
    const DmRoute *any = NULL, *other = NULL;

    for (unsigned i = 0; i < t->n; i++) {
        const DmRoute *r = &t->routes[i];

        if (strcmp(r->device_model, dm) != 0) {
            continue;
        }
        if (!r->vm[0]) {
            any = any ? any : r;
        } else if (strcmp(r->vm, vm) == 0) {
            return r;
        } else {
            other = other ? other : r;
        }
    }
    if (any) {
        return any;
    }
    if (other) {
        dm_warn("route: refused device model '%s' for vm '%s' (bound "
                "to '%s')", dm, vm, other->vm);
        *ret_err = EPERM;
        return NULL;
    }
    dm_warn("route: no route for device model '%s'", dm[0] ? dm : "(none)");
    *ret_err = EHOSTUNREACH;
    return NULL;
}
