/*
 * The launcher's fencing: the highest leadership token seen (fence.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdio.h>

#include "fence.h"
#include "http.h"

/* A token: a positive decimal int64, nothing else. */
static gint64 fence_parse(const char *s)
{
    char *end;
    gint64 v;

    if (!s || !g_ascii_isdigit(*s)) {
        return -1;
    }
    errno = 0;
    v = g_ascii_strtoll(s, &end, 10);
    return errno || *end || v <= 0 ? -1 : v;
}

void dm_fence_init(DmFence *f, const char *state_dir)
{
    g_autofree char *text = NULL;
    gint64 v;

    f->path = g_build_filename(state_dir, "fence", NULL);
    f->highest = 0;
    if (g_file_get_contents(f->path, &text, NULL, NULL)) {
        v = fence_parse(g_strstrip(text));
        if (v > 0) {
            f->highest = v;
        } else {
            fprintf(stderr, "dm-remote daemon: %s: not a token; ignored\n",
                    f->path);
        }
    }
}

void dm_fence_clear(DmFence *f)
{
    g_clear_pointer(&f->path, g_free);
}

bool dm_fence_check(DmFence *f, SoupServerMessage *msg)
{
    const char *h = soup_message_headers_get_one(
        soup_server_message_get_request_headers(msg), DM_FENCE_HEADER);
    g_autoptr(GError) err = NULL;
    g_autofree char *text = NULL;
    gint64 token;

    if (!h) {
        return true;
    }
    token = fence_parse(h);
    if (token < 0) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "bad %s '%s' (a "
                      "positive integer)", DM_FENCE_HEADER, h);
        return false;
    }
    if (token < f->highest) {
        dm_http_error(msg, SOUP_STATUS_CONFLICT, "fenced: token %"
                      G_GINT64_FORMAT " is older than %" G_GINT64_FORMAT
                      " (another orchestrator leads)", token, f->highest);
        return false;
    }
    if (token == f->highest) {
        return true;
    }
    /* Saved before it is acted on: a restart must not forget it. */
    text = g_strdup_printf("%" G_GINT64_FORMAT "\n", token);
    if (!g_file_set_contents_full(f->path, text, -1,
                                  G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                  &err)) {
        dm_http_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR,
                      "saving the fencing token: %s", err->message);
        return false;
    }
    f->highest = token;
    return true;
}
