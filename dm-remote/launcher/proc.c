/*
 * Child processes of the launcher.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>

#include "proc.h"

#define DM_PROC_KILL_DELAY_MS 5000
#define DM_PROC_PROBE_MS 20

static void proc_child_setup(gpointer unused)
{
    /*
     * Its own session, so a ^C at the daemon's terminal reaches the
     * daemon only (which then stops its children in order), and no
     * PDEATHSIG: a crashed daemon leaves its children running for the
     * next one to adopt.  Sockets and files it makes are its user's only.
     */
    setsid();
    umask(077);
}

static void proc_exited(GPid pid, gint status, gpointer opaque)
{
    DmProc *p = opaque;

    g_spawn_close_pid(pid);
    p->pid = 0;
    if (p->kill_timer) {
        g_source_remove(p->kill_timer);
        p->kill_timer = 0;
    }
    p->on_exit(p, status, p->opaque);
}

guint64 dm_proc_start_time(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;
    g_auto(GStrv) fields = NULL;
    const char *rest;

    if (pid <= 0 || !g_file_get_contents(path, &text, NULL, NULL)) {
        return 0;
    }
    /* After "PID (COMM) ": state is field 3, starttime field 22. */
    rest = strrchr(text, ')');
    if (!rest) {
        return 0;
    }
    fields = g_strsplit(rest + 1, " ", 22);
    if (g_strv_length(fields) < 22 || fields[1][0] == 'Z') {
        return 0;               /* a zombie is as good as gone */
    }
    return g_ascii_strtoull(fields[20], NULL, 10);
}

void dm_proc_release(DmProc *p)
{
    if (p->watch) {
        g_source_remove(p->watch);
        p->watch = 0;
        close(p->pidfd);
    }
    if (p->kill_timer) {
        g_source_remove(p->kill_timer);
        p->kill_timer = 0;
    }
    p->pid = 0;
}

/* An adopted process is gone: its pidfd became readable. */
static gboolean proc_adopted_exited(gint fd, GIOCondition cond,
                                    gpointer opaque)
{
    DmProc *p = opaque;

    p->watch = 0;
    close(p->pidfd);
    p->pid = 0;
    if (p->kill_timer) {
        g_source_remove(p->kill_timer);
        p->kill_timer = 0;
    }
    p->on_exit(p, DM_PROC_STATUS_UNKNOWN, p->opaque);
    return G_SOURCE_REMOVE;
}

int dm_proc_adopt(DmProc *p, pid_t pid, guint64 start_time)
{
    int fd;

    if (!start_time || dm_proc_start_time(pid) != start_time) {
        return -ESRCH;
    }
    fd = pidfd_open(pid, 0);
    if (fd < 0) {
        return -errno;
    }
    /* Checked again with the pidfd held: it cannot have been reused. */
    if (dm_proc_start_time(pid) != start_time) {
        close(fd);
        return -ESRCH;
    }
    p->pid = pid;
    p->start_time = start_time;
    p->pidfd = fd;
    p->watch = g_unix_fd_add(fd, G_IO_IN, proc_adopted_exited, p);
    return 0;
}

int dm_proc_spawn(DmProc *p, char **argv, const char *log_path,
                  char **ret_err)
{
    g_autoptr(GError) error = NULL;
    int log_fd, null_fd, ret = 0;
    GPid pid;

    log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0) {
        ret = -errno;
        *ret_err = g_strdup_printf("cannot open %s: %s", log_path,
                                   g_strerror(errno));
        return ret;
    }
    null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0) {
        ret = -errno;
        *ret_err = g_strdup_printf("cannot open /dev/null: %s",
                                   g_strerror(errno));
        close(log_fd);
        return ret;
    }
    if (!g_spawn_async_with_fds(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                proc_child_setup, NULL, &pid, null_fd,
                                log_fd, log_fd, &error)) {
        *ret_err = g_strdup_printf("cannot start %s: %s", argv[0],
                                   error->message);
        ret = -ENOEXEC;
    } else {
        p->pid = pid;
        p->start_time = dm_proc_start_time(pid);
        g_child_watch_add(pid, proc_exited, p);
    }
    close(null_fd);
    close(log_fd);
    return ret;
}

/* Through the pidfd for an adopted process: its pid may be reused. */
static void proc_signal(DmProc *p, int sig)
{
    if (p->watch) {
        pidfd_send_signal(p->pidfd, sig, NULL, 0);
    } else if (p->pid) {
        kill(p->pid, sig);
    }
}

static gboolean proc_kill(gpointer opaque)
{
    DmProc *p = opaque;

    p->kill_timer = 0;
    proc_signal(p, SIGKILL);
    return G_SOURCE_REMOVE;
}

void dm_proc_terminate(DmProc *p)
{
    if (!p->pid) {
        return;
    }
    proc_signal(p, SIGTERM);
    if (!p->kill_timer) {
        p->kill_timer = g_timeout_add(DM_PROC_KILL_DELAY_MS, proc_kill, p);
    }
}

char *dm_proc_exit_text(int status)
{
    if (status == DM_PROC_STATUS_UNKNOWN) {
        return g_strdup("exited (status unknown: adopted)");
    }
    if (WIFSIGNALED(status)) {
        return g_strdup_printf("killed by signal %d", WTERMSIG(status));
    }
    return g_strdup_printf("exited with status %d", WEXITSTATUS(status));
}

JsonNode *dm_proc_exit_json(bool exited, int status)
{
    JsonObject *o;

    if (!exited) {
        return json_node_new(JSON_NODE_NULL);
    }
    o = json_object_new();
    if (status == DM_PROC_STATUS_UNKNOWN) {
        json_object_set_boolean_member(o, "unknown", true);
    } else if (WIFSIGNALED(status)) {
        json_object_set_int_member(o, "signal", WTERMSIG(status));
    } else {
        json_object_set_int_member(o, "code", WEXITSTATUS(status));
    }
    return json_node_init_object(json_node_alloc(), o);
}

char *dm_proc_log_tail(const char *path, size_t max)
{
    g_autofree char *buf = g_malloc(max + 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    ssize_t n;

    if (fd < 0) {
        return g_strdup("");
    }
    if (fstat(fd, &st) == 0 && (size_t)st.st_size > max) {
        lseek(fd, st.st_size - max, SEEK_SET);
    }
    n = read(fd, buf, max);
    close(fd);
    if (n <= 0) {
        return g_strdup("");
    }
    buf[n] = '\0';
    return g_strstrip(g_utf8_make_valid(buf, n));
}

typedef struct DmProbe {
    DmProbeFn *probe;
    DmProbeDoneFn *done;
    void *opaque;
    gint64 deadline;
} DmProbe;

static gboolean proc_probe_tick(gpointer opaque)
{
    DmProbe *w = opaque;
    int ret = w->probe(w->opaque);

    if (ret == 0 && g_get_monotonic_time() < w->deadline) {
        return G_SOURCE_CONTINUE;
    }
    w->done(ret > 0 ? 0 : ret < 0 ? ret : -ETIMEDOUT, w->opaque);
    return G_SOURCE_REMOVE;
}

guint dm_proc_wait_ready(DmProbeFn *probe, DmProbeDoneFn *done,
                         void *opaque, unsigned timeout_ms)
{
    DmProbe *w = g_new0(DmProbe, 1);

    w->probe = probe;
    w->done = done;
    w->opaque = opaque;
    w->deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    return g_timeout_add_full(G_PRIORITY_DEFAULT, DM_PROC_PROBE_MS,
                              proc_probe_tick, w, g_free);
}

/*
 * Did @fd connect to itself?  The model ports (--port-range, 40000-40999
 * by default) lie inside Linux's ephemeral range (32768-60999): a probe
 * sent before the model listens can be given the model's own port as
 * its source, and TCP then connects it to itself (simultaneous open).
 * It is not the model answering, and while it lasts the model cannot
 * bind its port (seen twice in 1,008 launches, tests/scale/).
 */
static bool probe_self_connected(int fd, const struct sockaddr *sa)
{
    struct sockaddr_storage local;
    socklen_t local_len = sizeof(local);
    const struct sockaddr_in *a = (const struct sockaddr_in *)&local;
    const struct sockaddr_in *b = (const struct sockaddr_in *)sa;
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&local;
    const struct sockaddr_in6 *b6 = (const struct sockaddr_in6 *)sa;

    if (getsockname(fd, (struct sockaddr *)&local, &local_len) < 0 ||
        local.ss_family != sa->sa_family) {
        return false;
    }
    if (sa->sa_family == AF_INET) {
        return a->sin_port == b->sin_port &&
               a->sin_addr.s_addr == b->sin_addr.s_addr;
    }
    return sa->sa_family == AF_INET6 && a6->sin6_port == b6->sin6_port &&
           memcmp(&a6->sin6_addr, &b6->sin6_addr,
                  sizeof(a6->sin6_addr)) == 0;
}

bool dm_probe_connect(const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    0);
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    int err = 0;
    socklen_t errlen = sizeof(err);
    bool ok;

    if (fd < 0) {
        return false;
    }
    if (connect(fd, sa, len) == 0) {
        ok = true;
    } else if (errno != EINPROGRESS) {
        ok = false;
    } else {
        /* Loopback or a local interface: a short wait is plenty. */
        ok = poll(&pfd, 1, 100) == 1 &&
             getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) == 0 &&
             err == 0;
    }
    ok = ok && !probe_self_connected(fd, sa);
    close(fd);
    return ok;
}

int dm_unix_connect(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd, ret;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        return -ENAMETOOLONG;
    }
    strcpy(sun.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -errno;
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        ret = -errno;
        close(fd);
        return ret;
    }
    return fd;
}
