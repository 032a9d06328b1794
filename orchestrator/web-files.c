/*
 * dm-orchestrator: static files of the web console (see web-files.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "web-files.h"

struct OrchWebFiles {
    int dirfd;
    char *dir;
};

OrchWebFiles *orch_web_files_new(const char *dir, GError **errp)
{
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    OrchWebFiles *w;

    if (fd < 0) {
        int e = errno;

        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(e),
                    "%s: %s", dir, g_strerror(e));
        return NULL;
    }
    w = g_new0(OrchWebFiles, 1);
    w->dirfd = fd;
    w->dir = g_strdup(dir);
    return w;
}

void orch_web_files_free(OrchWebFiles *w)
{
    if (w) {
        close(w->dirfd);
        g_free(w->dir);
        g_free(w);
    }
}

const char *orch_web_content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        { ".html", "text/html; charset=utf-8" },
        { ".css", "text/css; charset=utf-8" },
        { ".js", "text/javascript; charset=utf-8" },
        { ".mjs", "text/javascript; charset=utf-8" },
        { ".json", "application/json" },
        { ".map", "application/json" },
        { ".svg", "image/svg+xml" },
        { ".png", "image/png" },
        { ".ico", "image/x-icon" },
        { ".woff2", "font/woff2" },
        { ".txt", "text/plain; charset=utf-8" },
        { ".wasm", "application/wasm" },
    };
    const char *dot = strrchr(name, '.');
    size_t i;

    for (i = 0; dot && i < G_N_ELEMENTS(types); i++) {
        if (g_ascii_strcasecmp(dot, types[i].ext) == 0) {
            return types[i].type;
        }
    }
    return "application/octet-stream";
}

/*
 * The path relative to the directory, decoded, or NULL if a segment is
 * refused (see web-files.h).
 */
static char *web_relative(const char *path)
{
    g_autofree char *dec = g_uri_unescape_string(path, "/");
    g_auto(GStrv) seg = NULL;
    guint i;

    if (!dec || dec[0] != '/' || strchr(dec, '\\')) {
        return NULL;
    }
    if (strcmp(dec, "/") == 0) {
        return g_strdup("index.html");
    }
    seg = g_strsplit(dec + 1, "/", -1);
    for (i = 0; seg[i]; i++) {
        /* Empty, ".", "..", and hidden files (.git, .env, ...). */
        if (seg[i][0] == '\0' || seg[i][0] == '.') {
            return NULL;
        }
    }
    return g_strdup(dec + 1);
}

/* Open @rel beneath the directory: the kernel refuses any way out. */
static int web_open(OrchWebFiles *w, const char *rel)
{
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };

    return syscall(SYS_openat2, w->dirfd, rel, &how, sizeof(how));
}

static void web_status(SoupServerMessage *msg, guint status)
{
    static const char text[] = "not found\n";

    soup_server_message_set_status(msg, status, NULL);
    if (status == 404) {
        soup_server_message_set_response(msg, "text/plain; charset=utf-8",
                                         SOUP_MEMORY_STATIC, text,
                                         strlen(text));
    }
}

void orch_web_files_serve(OrchWebFiles *w, SoupServerMessage *msg,
                          const char *path)
{
    const char *method = soup_server_message_get_method(msg);
    SoupMessageHeaders *out = soup_server_message_get_response_headers(msg);
    g_autofree char *rel = NULL;
    g_autofree char *data = NULL;
    struct stat st;
    ssize_t got;
    size_t len = 0;
    int fd;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        soup_message_headers_replace(out, "Allow", "GET, HEAD");
        web_status(msg, 405);
        return;
    }
    if (strlen(path) > ORCH_WEB_MAX_PATH) {
        web_status(msg, 414);
        return;
    }
    rel = web_relative(path);
    fd = rel ? web_open(w, rel) : -1;
    if (fd < 0) {
        orch_debug("web: %s: refused (%s)", path,
                   rel ? g_strerror(errno) : "bad path");
        web_status(msg, 404);
        return;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        st.st_size > ORCH_WEB_MAX_FILE) {
        orch_debug("web: %s: not a regular file of at most %d bytes", path,
                   ORCH_WEB_MAX_FILE);
        close(fd);
        web_status(msg, 404);
        return;
    }
    data = g_malloc(st.st_size + 1);
    while (len < (size_t)st.st_size &&
           (got = read(fd, data + len, st.st_size - len)) != 0) {
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            orch_warn("web: %s: %s", rel, g_strerror(errno));
            close(fd);
            web_status(msg, 500);
            return;
        }
        len += got;
    }
    close(fd);
    /* Our scripts are modules: no sniffing, no framing by other sites. */
    soup_message_headers_replace(out, "X-Content-Type-Options", "nosniff");
    soup_message_headers_replace(out, "X-Frame-Options", "DENY");
    soup_message_headers_replace(out, "Cache-Control", "no-cache");
    soup_server_message_set_status(msg, 200, NULL);
    soup_server_message_set_response(msg, orch_web_content_type(rel),
                                     SOUP_MEMORY_TAKE,
                                     g_steal_pointer(&data), len);
}
