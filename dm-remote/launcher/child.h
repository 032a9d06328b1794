/*
 * A supervised child of the launcher: a model instance, the router or a
 * QEMU.  What they share lives here: the process (proc.h) in a
 * directory of its own with its log, the readiness probe, the exit,
 * restarts within a budget, the API request waiting for it (a POST until
 * it is ready, a DELETE until it is reaped) and forgetting it (out of
 * the API's table, then freed once reaped).  The owner (instance.c,
 * vm.c) supplies what differs through DmChildOps and embeds the child.
 * It knows only the shared context (launcher.h): the owner's state is
 * the owner's, and a child that is gone is told through its hook.
 *
 * All of it runs in the daemon's main loop.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_CHILD_H
#define DM_CHILD_H

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "launcher.h"
#include "proc.h"

#define DM_RESTART_MAX 5        /* restarts within DM_RESTART_WINDOW_US */
#define DM_RESTART_WINDOW_US (60 * G_USEC_PER_SEC)

typedef struct DmChild DmChild;

typedef struct DmChildOps {
    /* Ready yet?  1, 0 (not yet) or -errno (give up). */
    int (*probe)(DmChild *c);
    /* The probe succeeded (0), gave up or timed out (-errno). */
    void (*ready)(DmChild *c, int ret);
    /*
     * The process exited while the API knows the child (c->exited and
     * c->status are set, the probe stopped).
     */
    void (*exited)(DmChild *c);
    /* Optional: spawn again after dm_child_restart_later's delay. */
    void (*restart)(DmChild *c);
    /* Remove what goes with the child: sockets, record, ... */
    void (*remove_files)(DmChild *c);
    /* The child as the API shows it (a DELETE's answer). */
    JsonObject *(*json)(DmChild *c);
    /* The child is gone: tell who watches it and free the owner. */
    void (*free)(DmChild *c);
} DmChildOps;

struct DmChild {
    DmLauncher *l;
    const DmChildOps *ops;
    char *id;
    char *dir;                  /* its own, 0700 */
    char *log_path;             /* DIR/log */
    GHashTable *table;          /* the API's table, or NULL (the router) */
    unsigned start_timeout_ms;
    DmProc proc;
    bool exited;                /* status is valid; kept across restarts */
    int status;
    guint probe_src;
    unsigned restarts;
    gint64 restart_time[DM_RESTART_MAX];    /* ring, by restarts */
    guint restart_timer;
    SoupServerMessage *waiting; /* POST until ready, DELETE until reaped */
    bool forgotten;             /* out of the table: free once reaped */
};

/*
 * Set up @c for @id in @dir (taken), listed in @table (NULL: none) while
 * the API knows it, ready once @ops->probe says so within
 * @start_timeout_ms.
 */
void dm_child_init(DmChild *c, DmLauncher *l, const DmChildOps *ops,
                   const char *id, char *dir, GHashTable *table,
                   unsigned start_timeout_ms);
/* Another directory (taken), before the first spawn. */
void dm_child_set_dir(DmChild *c, char *dir);
/* Free what dm_child_init took; the process must be gone. */
void dm_child_clear(DmChild *c);

/* In the API's table / out of it (not forgotten: a failed launch). */
void dm_child_list(DmChild *c);
void dm_child_unlist(DmChild *c);

/*
 * Make its directory and start @argv with its output in the log, then
 * probe for readiness.  0 or -errno with a reason in *@ret_err.
 */
int dm_child_spawn(DmChild *c, char **argv, char **ret_err);
/* Probe again (an adopted child). */
void dm_child_wait_ready(DmChild *c);
/* Adopt @pid of an earlier launcher (proc.h): 0 or -ESRCH. */
int dm_child_adopt(DmChild *c, pid_t pid, guint64 start);

/* Answer @msg later: it waits in c->waiting. */
void dm_child_defer(DmChild *c, SoupServerMessage *msg);
/* Answer the waiting request, if any: @o (taken) or {"error": @text}. */
void dm_child_answer(DmChild *c, guint status, JsonObject *o);
void dm_child_answer_error(DmChild *c, guint status, const char *text);

/* The last KiB of its log. */
char *dm_child_log_tail(DmChild *c);

/*
 * A start that failed: 500 with "@why; @log_says: TAIL" to the waiting
 * POST, then forget the child.
 */
void dm_child_start_failed(DmChild *c, const char *why,
                           const char *log_says);

/*
 * Out of the API's sight: stopped (SIGTERM) and freed once reaped, or
 * now if it is not running (files removed, a waiting DELETE answered
 * 200 with the child).  A waiting POST must have been answered.  Once
 * freed, the launcher's child_gone hook is told.
 */
void dm_child_forget(DmChild *c);

/*
 * The API deletes it: a POST still waiting gets 409 "@what deleted
 * while starting"; @msg (or NULL) gets 200 once it is gone.
 */
void dm_child_stop(DmChild *c, SoupServerMessage *msg, const char *what);

/* Within the budget of DM_RESTART_MAX restarts in the window? */
bool dm_child_may_restart(DmChild *c);
/* Count a restart and call ops->restart after @delay_ms. */
void dm_child_restart_later(DmChild *c, unsigned delay_ms);
/* Forget the restarts (a fresh budget), counting this one. */
void dm_child_restart_fresh(DmChild *c);
/* Whether a restart is on its way. */
bool dm_child_restarting(DmChild *c);

#endif /* DM_CHILD_H */
