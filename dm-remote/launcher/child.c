/*
 * A supervised child of the launcher (child.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "http.h"
#include "record.h"

#define DM_LOG_TAIL 1024

static void child_exited(DmProc *p, int status, void *opaque);

void dm_child_init(DmChild *c, DmLauncher *l, const DmChildOps *ops,
                   const char *id, char *dir, GHashTable *table,
                   unsigned start_timeout_ms)
{
    memset(c, 0, sizeof(*c));
    c->l = l;
    c->ops = ops;
    c->id = g_strdup(id);
    c->table = table;
    c->start_timeout_ms = start_timeout_ms;
    c->proc.on_exit = child_exited;
    c->proc.opaque = c;
    dm_child_set_dir(c, dir);
}

void dm_child_set_dir(DmChild *c, char *dir)
{
    g_free(c->dir);
    g_free(c->log_path);
    c->dir = dir;
    c->log_path = g_build_filename(dir, "log", NULL);
}

void dm_child_clear(DmChild *c)
{
    g_assert(!c->proc.pid && !c->waiting);
    if (c->probe_src) {
        g_source_remove(c->probe_src);
        c->probe_src = 0;
    }
    if (c->restart_timer) {
        g_source_remove(c->restart_timer);
        c->restart_timer = 0;
    }
    g_free(c->id);
    g_free(c->dir);
    g_free(c->log_path);
    c->id = c->dir = c->log_path = NULL;
}

void dm_child_list(DmChild *c)
{
    if (c->table) {
        g_hash_table_insert(c->table, c->id, c);
    }
}

void dm_child_unlist(DmChild *c)
{
    if (c->table) {
        g_hash_table_remove(c->table, c->id);
    }
}

static int child_probe(void *opaque)
{
    DmChild *c = opaque;

    if (!c->proc.pid) {
        return -ECHILD;
    }
    return c->ops->probe(c);
}

static void child_ready(int ret, void *opaque)
{
    DmChild *c = opaque;

    c->probe_src = 0;
    c->ops->ready(c, ret);
}

void dm_child_wait_ready(DmChild *c)
{
    if (c->probe_src) {
        g_source_remove(c->probe_src);
    }
    c->probe_src = dm_proc_wait_ready(child_probe, child_ready, c,
                                      c->start_timeout_ms);
}

int dm_child_spawn(DmChild *c, char **argv, char **ret_err)
{
    int ret = dm_dir_make_private(c->dir, ret_err);

    if (ret < 0) {
        return ret;
    }
    ret = dm_proc_spawn(&c->proc, argv, c->log_path, ret_err);
    if (ret < 0) {
        return ret;
    }
    dm_child_wait_ready(c);
    return 0;
}

int dm_child_adopt(DmChild *c, pid_t pid, guint64 start)
{
    return dm_proc_adopt(&c->proc, pid, start);
}

void dm_child_defer(DmChild *c, SoupServerMessage *msg)
{
    if (msg) {
        c->waiting = msg;
        dm_http_defer(msg);
    }
}

void dm_child_answer(DmChild *c, guint status, JsonObject *o)
{
    dm_http_answer_waiting(&c->waiting, status, o);
}

void dm_child_answer_error(DmChild *c, guint status, const char *text)
{
    dm_http_answer_waiting_error(&c->waiting, status, text);
}

char *dm_child_log_tail(DmChild *c)
{
    return dm_proc_log_tail(c->log_path, DM_LOG_TAIL);
}

void dm_child_start_failed(DmChild *c, const char *why, const char *log_says)
{
    g_autofree char *tail = dm_child_log_tail(c);
    g_autofree char *text = g_strdup_printf("%s; %s: %s", why, log_says,
                                            tail);

    dm_child_answer_error(c, SOUP_STATUS_INTERNAL_SERVER_ERROR, text);
    dm_child_forget(c);
}

void dm_child_forget(DmChild *c)
{
    DmLauncher *l = c->l;

    if (!c->forgotten) {
        dm_child_unlist(c);
        c->forgotten = true;
    }
    if (c->probe_src) {
        g_source_remove(c->probe_src);
        c->probe_src = 0;
    }
    if (c->restart_timer) {
        g_source_remove(c->restart_timer);
        c->restart_timer = 0;
    }
    if (c->proc.pid) {
        /* Its id is not reused before its sockets and files are gone. */
        if (c->table) {
            g_hash_table_add(l->dying, g_strdup(c->id));
        }
        dm_proc_terminate(&c->proc);
        return;
    }
    c->ops->remove_files(c);
    dm_child_answer(c, SOUP_STATUS_OK, c->ops->json(c));
    c->ops->free(c);
    if (l->child_gone) {
        l->child_gone(l->child_gone_opaque);
    }
}

void dm_child_stop(DmChild *c, SoupServerMessage *msg, const char *what)
{
    if (c->waiting) {
        /* A POST still waiting for the child to be ready. */
        g_autofree char *text = g_strdup_printf("%s deleted while starting",
                                                what);

        dm_child_answer_error(c, SOUP_STATUS_CONFLICT, text);
    }
    dm_child_defer(c, msg);
    dm_child_forget(c);
}

static void child_exited(DmProc *p, int status, void *opaque)
{
    DmChild *c = opaque;

    c->exited = true;
    c->status = status;
    if (c->probe_src) {
        g_source_remove(c->probe_src);
        c->probe_src = 0;
    }
    if (c->forgotten) {
        if (c->table) {
            g_hash_table_remove(c->l->dying, c->id);
        }
        dm_child_forget(c);
        return;
    }
    c->ops->exited(c);
}

bool dm_child_may_restart(DmChild *c)
{
    gint64 oldest = c->restart_time[c->restarts % DM_RESTART_MAX];

    return c->restarts < DM_RESTART_MAX ||
           g_get_monotonic_time() - oldest >= DM_RESTART_WINDOW_US;
}

static gboolean child_restart(gpointer opaque)
{
    DmChild *c = opaque;

    c->restart_timer = 0;
    c->restart_time[c->restarts % DM_RESTART_MAX] = g_get_monotonic_time();
    c->restarts++;
    c->ops->restart(c);
    return G_SOURCE_REMOVE;
}

void dm_child_restart_later(DmChild *c, unsigned delay_ms)
{
    c->restart_timer = g_timeout_add(delay_ms, child_restart, c);
}

void dm_child_restart_fresh(DmChild *c)
{
    memset(c->restart_time, 0, sizeof(c->restart_time));
    c->restarts++;
}

bool dm_child_restarting(DmChild *c)
{
    return c->restart_timer != 0;
}
