/*
 * Helpers shared by qemu-dm's qtests.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/wait.h>

#include "dm-qtest-util.h"

bool dm_remote_available(void)
{
    const char *bin = g_getenv("DM_REMOTE");

    return bin && g_file_test(bin, G_FILE_TEST_IS_EXECUTABLE);
}

DmRemote *dm_remote_start(const char *model, const char *const *extra_args)
{
    DmRemote *r = g_new0(DmRemote, 1);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autofree char *listen = NULL;
    g_autoptr(GError) err = NULL;
    bool ok;

    /* The harness always sets it: a missing server is a failure. */
    g_assert_true(dm_remote_available());
    r->dir = g_dir_make_tmp("dm-qtest-XXXXXX", &err);
    g_assert_no_error(err);
    r->socket_path = g_build_filename(r->dir, "dm.sock", NULL);
    listen = g_strdup_printf("unix:%s", r->socket_path);

    g_ptr_array_add(argv, (gpointer)g_getenv("DM_REMOTE"));
    g_ptr_array_add(argv, (gpointer)"serve");
    g_ptr_array_add(argv, (gpointer)"--quiet");
    g_ptr_array_add(argv, (gpointer)"--model");
    g_ptr_array_add(argv, (gpointer)model);
    g_ptr_array_add(argv, (gpointer)"--listen");
    g_ptr_array_add(argv, listen);
    for (; extra_args && *extra_args; extra_args++) {
        g_ptr_array_add(argv, (gpointer)*extra_args);
    }
    g_ptr_array_add(argv, NULL);

    ok = g_spawn_async(NULL, (char **)argv->pdata, NULL,
                       G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &r->pid, &err);
    g_assert_no_error(err);
    g_assert_true(ok);

    DM_WAIT_UNTIL(g_file_test(r->socket_path, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(r->socket_path, G_FILE_TEST_EXISTS));
    return r;
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
    g_spawn_close_pid(r->pid);
    unlink(r->socket_path);
    rmdir(r->dir);
    g_free(r->socket_path);
    g_free(r->dir);
    g_free(r);
}

void dm_remote_stop(DmRemote *r)
{
    int status;

    kill(r->pid, SIGTERM);
    status = wait_exit(r->pid);
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
    dm_remote_free(r);
}
