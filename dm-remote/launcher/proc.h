/*
 * Child processes of the launcher: spawned with their output in a log
 * file, reaped from the main loop, stopped with SIGTERM and, 5 s later,
 * SIGKILL.  A launcher that crashed leaves them running; the next one
 * adopts them (dm_proc_adopt) and watches them through a pidfd.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_PROC_H
#define DM_PROC_H

#include <stdbool.h>
#include <sys/socket.h>

#include <glib.h>
#include <json-glib/json-glib.h>

typedef struct DmProc DmProc;

/*
 * @status is a wait status, or DM_PROC_STATUS_UNKNOWN for an adopted
 * process (not our child: someone else reaps it).  The process is gone.
 */
typedef void DmProcExitFn(DmProc *p, int status, void *opaque);
#define DM_PROC_STATUS_UNKNOWN (-1)

struct DmProc {
    GPid pid;                   /* 0: not running */
    guint64 start_time;         /* /proc/PID/stat's, against pid reuse */
    int pidfd;                  /* adopted: its pidfd */
    guint watch;                /* adopted: the pidfd's source, else 0 */
    guint kill_timer;
    DmProcExitFn *on_exit;
    void *opaque;
};

/*
 * Start @argv (argv[0] a path) with stdin from /dev/null and stdout and
 * stderr appended to @log_path.  @p->on_exit is called once it exits; @p
 * must stay alive until then.  Returns 0 or -errno with a reason in
 * *@ret_err.
 */
int dm_proc_spawn(DmProc *p, char **argv, const char *log_path,
                  char **ret_err);

/*
 * Watch @pid, a process of an earlier launcher, if it is still the one
 * that started at @start_time: 0, or -ESRCH if it is gone (or another
 * process has its pid now).  @p->on_exit is called once it exits.
 */
int dm_proc_adopt(DmProc *p, pid_t pid, guint64 start_time);

/* Forget the process without stopping it (a failed adoption). */
void dm_proc_release(DmProc *p);

/* A process's start time (clock ticks after boot), or 0 if none. */
guint64 dm_proc_start_time(pid_t pid);

/* SIGTERM now, SIGKILL if it is still there after 5 s. */
void dm_proc_terminate(DmProc *p);

/* "exited with status 1", "killed by signal 9", "exited" (unknown) */
char *dm_proc_exit_text(int status);

/* null, {"code": N}, {"signal": N} or {"unknown": true} (adopted) */
JsonNode *dm_proc_exit_json(bool exited, int status);

/* The last @max bytes of a log file, as valid UTF-8 ("" if none). */
char *dm_proc_log_tail(const char *path, size_t max);

/*
 * Bounded waiting for a child to become ready: @probe is called every
 * 20 ms and returns 1 (ready), 0 (not yet) or -errno (give up).  @done
 * gets 0, the probe's -errno or -ETIMEDOUT after @timeout_ms.  Returns the
 * source id; g_source_remove() cancels (but not from within @done).
 */
typedef int DmProbeFn(void *opaque);
typedef void DmProbeDoneFn(int ret, void *opaque);
guint dm_proc_wait_ready(DmProbeFn *probe, DmProbeDoneFn *done,
                         void *opaque, unsigned timeout_ms);

/* Does something accept connections at this address?  Never blocks long. */
bool dm_probe_connect(const struct sockaddr *sa, socklen_t len);

/* Connect to a UNIX socket; returns the fd or -errno. */
int dm_unix_connect(const char *path);

#endif /* DM_PROC_H */
