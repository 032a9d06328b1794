/*
 * Helpers shared by qemu-dm's qtests.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/wait.h>

#include "dm-qtest-util.h"

bool dm_remote_available(void)
{
    const char *bin = g_getenv("DM_REMOTE");

    return bin && g_file_test(bin, G_FILE_TEST_IS_EXECUTABLE);
}

/* Is something accepting connections on @path? */
static bool listening(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    g_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
    ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
    close(fd);
    return ok;
}

/* A server outlives no test: it dies with the test process. */
static void die_with_parent(gpointer data)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
}

/*
 * Where TCP models listen: loopback, or under tests/net/netns-run.sh the
 * server namespace's address (the model then runs in that namespace).
 */
static const char *tcp_host(void)
{
    return g_getenv("DM_SERVER_ADDR") ?: "127.0.0.1";
}

/* Is something accepting TCP connections on @host:@port? */
static bool tcp_port_open(const char *host, int port)
{
    struct sockaddr_in sin = {
        .sin_family = AF_INET,
        .sin_port = htons(port),
    };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    inet_pton(AF_INET, host, &sin.sin_addr);
    ok = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
    close(fd);
    return ok;
}

static bool tcp_listening(int port)
{
    return tcp_port_open(tcp_host(), port);
}

/*
 * A loopback port that was free a moment ago, below the kernel's
 * ephemeral range (32768-60999 by default), so that no outgoing
 * connection takes it before the server binds it (tests/free-port.py).
 */
static int free_tcp_port(void)
{
    for (int i = 0; i < 500; i++) {
        struct sockaddr_in sin = {
            .sin_family = AF_INET,
            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
            .sin_port = htons(g_random_int_range(10000, 32768)),
        };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int ret;

        g_assert_cmpint(fd, >=, 0);
        ret = bind(fd, (struct sockaddr *)&sin, sizeof(sin));
        close(fd);
        if (ret == 0) {
            return ntohs(sin.sin_port);
        }
    }
    g_assert_not_reached();
}

static void dm_remote_spawn(DmRemote *r)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    const char *listen = r->listen;
    g_autoptr(GError) err = NULL;
    bool ok;

    if (g_str_has_prefix(listen, "tcp:") && g_getenv("DM_SERVER_NETNS")) {
        g_ptr_array_add(argv, (gpointer)"ip");
        g_ptr_array_add(argv, (gpointer)"netns");
        g_ptr_array_add(argv, (gpointer)"exec");
        g_ptr_array_add(argv, (gpointer)g_getenv("DM_SERVER_NETNS"));
    }
    g_ptr_array_add(argv, (gpointer)g_getenv("DM_REMOTE"));
    g_ptr_array_add(argv, (gpointer)"serve");
    g_ptr_array_add(argv, (gpointer)"--quiet");
    g_ptr_array_add(argv, (gpointer)"--model");
    g_ptr_array_add(argv, r->model);
    g_ptr_array_add(argv, (gpointer)"--listen");
    g_ptr_array_add(argv, (gpointer)listen);
    for (char **a = r->extra_args; a && *a; a++) {
        g_ptr_array_add(argv, *a);
    }
    g_ptr_array_add(argv, NULL);

    ok = g_spawn_async(NULL, (char **)argv->pdata, NULL,
                       G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH,
                       die_with_parent, NULL, &r->pid, &err);
    g_assert_no_error(err);
    g_assert_true(ok);

    if (g_str_has_prefix(listen, "tcp:")) {
        int port = atoi(strrchr(listen, ':') + 1);

        DM_WAIT_UNTIL(tcp_listening(port));
        g_assert_true(tcp_listening(port));
        return;
    }
    DM_WAIT_UNTIL(g_file_test(r->socket_path, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(r->socket_path, G_FILE_TEST_EXISTS));
}

DmRemote *dm_remote_start_tcp(const char *model,
                              const char *const *extra_args)
{
    DmRemote *r = g_new0(DmRemote, 1);
    g_autoptr(GError) err = NULL;

    g_assert_true(dm_remote_available());
    r->dir = g_dir_make_tmp("dm-qtest-XXXXXX", &err);
    g_assert_no_error(err);
    r->socket_path = g_build_filename(r->dir, "unused.sock", NULL);
    r->listen = g_strdup_printf("tcp:%s:%d", tcp_host(), free_tcp_port());
    r->model = g_strdup(model);
    r->extra_args = g_strdupv((char **)extra_args);
    dm_remote_spawn(r);
    if (g_getenv("DM_TCP_DELAY_MS")) {
        int port = free_tcp_port();
        g_autofree char *lport = g_strdup_printf("%d", port);
        const char *argv[] = {
            g_getenv("DM_DELAY_RELAY"), "127.0.0.1", lport, tcp_host(),
            strrchr(r->listen, ':') + 1, g_getenv("DM_TCP_DELAY_MS"), NULL,
        };
        bool ok;

        g_assert_nonnull(argv[0]);
        ok = g_spawn_async(NULL, (char **)argv, NULL,
                           G_SPAWN_DO_NOT_REAP_CHILD |
                           G_SPAWN_STDOUT_TO_DEV_NULL, die_with_parent,
                           NULL, &r->relay_pid, &err);
        g_assert_no_error(err);
        g_assert_true(ok);
        r->connect = g_strdup_printf("tcp:127.0.0.1:%d", port);
        DM_WAIT_UNTIL(tcp_port_open("127.0.0.1", port));
        g_assert_true(tcp_port_open("127.0.0.1", port));
    } else {
        r->connect = g_strdup(r->listen);
    }
    return r;
}

DmRemote *dm_remote_start(const char *model, const char *const *extra_args)
{
    DmRemote *r = g_new0(DmRemote, 1);
    g_autoptr(GError) err = NULL;

    /* The harness always sets it: a missing server is a failure. */
    g_assert_true(dm_remote_available());
    r->dir = g_dir_make_tmp("dm-qtest-XXXXXX", &err);
    g_assert_no_error(err);
    r->socket_path = g_build_filename(r->dir, "dm.sock", NULL);
    r->listen = g_strdup_printf("unix:%s", r->socket_path);
    r->connect = g_strdup(r->listen);
    r->model = g_strdup(model);
    r->extra_args = g_strdupv((char **)extra_args);
    dm_remote_spawn(r);
    return r;
}

DmRemote *dm_qemu_server_start(const char *device)
{
    DmRemote *r = g_new0(DmRemote, 1);
    g_autoptr(GError) err = NULL;
    g_autofree char *dev = g_strdup_printf("%s,id=dev0", device);
    g_autofree char *obj = NULL;
    const char *argv[] = {
        g_getenv("QTEST_QEMU_BINARY"), "-machine", "x-remote,vfio-user=on",
        "-accel", "tcg", "-nodefaults", "-display", "none",
        "-monitor", "none", "-serial", "none", "-device", dev,
        "-object", NULL, NULL,
    };
    bool ok;

    r->dir = g_dir_make_tmp("dm-qtest-XXXXXX", &err);
    g_assert_no_error(err);
    r->socket_path = g_build_filename(r->dir, "qemu-server.sock", NULL);
    obj = g_strdup_printf("x-vfio-user-server,id=vfuobj0,type=unix,"
                          "path=%s,device=dev0", r->socket_path);
    argv[G_N_ELEMENTS(argv) - 2] = obj;
    ok = g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                       die_with_parent, NULL, &r->pid, &err);
    g_assert_no_error(err);
    g_assert_true(ok);
    DM_WAIT_UNTIL(g_file_test(r->socket_path, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(r->socket_path, G_FILE_TEST_EXISTS));
    r->is_qemu = true;
    r->listen = g_strdup_printf("unix:%s", r->socket_path);
    r->connect = g_strdup(r->listen);
    return r;
}

void dm_remote_restart(DmRemote *r)
{
    g_assert_false(g_str_has_prefix(r->listen, "unix:") &&
                   listening(r->socket_path));
    dm_remote_spawn(r);
}

static int wait_exit(GPid pid)
{
    int status = -1;
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (g_get_monotonic_time() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            g_assert_not_reached();
        }
        g_usleep(1000);
    }
    return status;
}

static void dm_remote_free(DmRemote *r)
{
    unlink(r->socket_path);
    rmdir(r->dir);
    g_free(r->socket_path);
    g_free(r->dir);
    g_free(r->model);
    g_free(r->listen);
    g_free(r->connect);
    if (r->relay_pid) {
        kill(r->relay_pid, SIGTERM);
        waitpid(r->relay_pid, NULL, 0);
    }
    g_strfreev(r->extra_args);
    g_free(r);
}

void dm_remote_stop(DmRemote *r)
{
    int status;

    if (!r->pid) {              /* killed and not restarted */
        dm_remote_free(r);
        return;
    }
    kill(r->pid, SIGTERM);
    status = wait_exit(r->pid);
    if (r->is_qemu) {           /* QEMU's server may be gone already */
        dm_remote_free(r);
        return;
    }
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    /* A clean stop removes the socket file. */
    g_assert_false(g_file_test(r->socket_path, G_FILE_TEST_EXISTS));
    dm_remote_free(r);
}

void dm_remote_kill(DmRemote *r)
{
    kill(r->pid, SIGKILL);
    wait_exit(r->pid);
    r->pid = 0;
}

void dm_remote_pause(DmRemote *r, bool pause)
{
    kill(r->pid, pause ? SIGSTOP : SIGCONT);
}
