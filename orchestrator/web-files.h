/*
 * dm-orchestrator: the web console's static files (web-files.c), served
 * from one directory (--web DIR) on the API's own listener.
 *
 * GET and HEAD only; "/" is DIR/index.html.  Refused: a path longer
 * than ORCH_WEB_MAX_PATH (414), a segment that is empty, "." or ".." or
 * starts with a dot, an encoded '/' or NUL, anything that resolves
 * outside DIR (a symlink or ".." pointing out: the kernel checks, with
 * openat2's RESOLVE_BENEATH), a directory (no listings) or anything but
 * a regular file: all 404 but the length.  The Content-Type is the
 * extension's; others are application/octet-stream.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_WEB_FILES_H
#define ORCH_WEB_FILES_H

#include <libsoup/soup.h>

#define ORCH_WEB_MAX_PATH 1024
/* Our assets are scripts and styles; a bigger file is a mistake. */
#define ORCH_WEB_MAX_FILE (16 * 1024 * 1024)

typedef struct OrchWebFiles OrchWebFiles;

/* Serve @dir; NULL with an error if it is not a directory we can open. */
OrchWebFiles *orch_web_files_new(const char *dir, GError **errp);
void orch_web_files_free(OrchWebFiles *w);
/* Answer @msg for @path (as the request's URI has it, still encoded). */
void orch_web_files_serve(OrchWebFiles *w, SoupServerMessage *msg,
                          const char *path);
/* The Content-Type of file @name, from its extension. */
const char *orch_web_content_type(const char *name);

#endif /* ORCH_WEB_FILES_H */
