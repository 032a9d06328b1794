/*
 * A TCP proxy to etcd in the test's process (etcd-proxy.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "etcd-proxy.h"


static void splice_done(GObject *src, GAsyncResult *res, gpointer opaque)
{
    g_io_stream_splice_finish(res, NULL);
    *(bool *)opaque = true;
}

static bool stream_busy(GIOStream *s)
{
    return g_input_stream_has_pending(g_io_stream_get_input_stream(s)) ||
           g_output_stream_has_pending(g_io_stream_get_output_stream(s));
}

static void proxy_splice(GSocketConnection *conn, GSocketConnection *up);

/* A thread of the service's: one connection, both ways, until either ends. */
static gboolean proxy_run(GThreadedSocketService *svc,
                          GSocketConnection *conn, GObject *src,
                          gpointer opaque)
{
    Proxy *p = opaque;
    GSocketClient *client = g_socket_client_new();
    GSocketConnection *up;
    GCancellable *cancel;

    g_mutex_lock(&p->lock);
    cancel = g_object_ref(p->cancel);
    p->running++;
    g_mutex_unlock(&p->lock);
    up = g_socket_client_connect_to_host(client, "127.0.0.1", p->upstream,
                                         cancel, NULL);
    if (up) {
        GSocket *a = g_socket_connection_get_socket(conn);
        GSocket *b = g_socket_connection_get_socket(up);

        /*
         * A cut shuts the sockets down rather than cancelling the splice
         * from its thread: GLib 2.74 leaks a cancellable source whose
         * cancellable another thread cancels while it is being disposed
         * (LeakSanitizer, 120 bytes from g_socket_create_source, 2 runs
         * in 6).
         */
        g_mutex_lock(&p->lock);
        g_ptr_array_add(p->socks, a);
        g_ptr_array_add(p->socks, b);
        if (g_cancellable_is_cancelled(cancel)) {
            g_socket_shutdown(a, TRUE, TRUE, NULL);     /* cut meanwhile */
            g_socket_shutdown(b, TRUE, TRUE, NULL);
        }
        g_mutex_unlock(&p->lock);
        proxy_splice(conn, up);
        g_mutex_lock(&p->lock);
        g_ptr_array_remove(p->socks, a);
        g_ptr_array_remove(p->socks, b);
        g_mutex_unlock(&p->lock);
    }
    /* Our objects go first: proxy_free may end the process right after. */
    g_clear_object(&up);
    g_clear_object(&client);
    g_clear_object(&cancel);
    g_mutex_lock(&p->lock);
    p->running--;
    g_cond_broadcast(&p->cond);
    g_mutex_unlock(&p->lock);
    return TRUE;
}

/* Both ways until either ends, on this thread's own context. */
static void proxy_splice(GSocketConnection *conn, GSocketConnection *up)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    bool done = false;

    g_main_context_push_thread_default(ctx);
    g_io_stream_splice_async(G_IO_STREAM(conn), G_IO_STREAM(up),
                             G_IO_STREAM_SPLICE_CLOSE_STREAM1 |
                             G_IO_STREAM_SPLICE_CLOSE_STREAM2,
                             G_PRIORITY_DEFAULT, NULL, splice_done, &done);
    /* Until the splice is done and no read or write of it is left. */
    while (!done || stream_busy(G_IO_STREAM(conn)) ||
           stream_busy(G_IO_STREAM(up))) {
        g_main_context_iteration(ctx, TRUE);
    }
    g_main_context_pop_thread_default(ctx);
}

static void proxy_listen_here(Proxy *p)
{
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(
        G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(lo, p->port);
    g_autoptr(GSocketAddress) got = NULL;
    g_autoptr(GError) err = NULL;

    /* A listener closed does not listen again: a new one each time. */
    p->svc = g_threaded_socket_service_new(8);
    g_signal_connect(p->svc, "run", G_CALLBACK(proxy_run), p);
    if (!g_socket_listener_add_address(G_SOCKET_LISTENER(p->svc), addr,
                                       G_SOCKET_TYPE_STREAM,
                                       G_SOCKET_PROTOCOL_TCP, NULL, &got,
                                       &err)) {
        fail_msg("proxy: %s", err->message);
    }
    p->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(got));
    g_socket_service_start(p->svc);
}

/* Run @fn(@p) on the proxy's own context, and wait for it. */
typedef struct ProxyCall {
    Proxy *p;
    void (*fn)(Proxy *p);
    bool done;
} ProxyCall;

static gboolean proxy_call_run(gpointer opaque)
{
    ProxyCall *call = opaque;

    call->fn(call->p);
    g_mutex_lock(&call->p->lock);
    call->done = true;
    g_cond_broadcast(&call->p->cond);
    g_mutex_unlock(&call->p->lock);
    return G_SOURCE_REMOVE;
}

static void proxy_call(Proxy *p, void (*fn)(Proxy *p))
{
    ProxyCall call = { .p = p, .fn = fn };

    g_main_context_invoke(p->ctx, proxy_call_run, &call);
    g_mutex_lock(&p->lock);
    while (!call.done) {
        g_cond_wait(&p->cond, &p->lock);
    }
    g_mutex_unlock(&p->lock);
}

static void proxy_listen(Proxy *p)
{
    proxy_call(p, proxy_listen_here);
}

static gpointer proxy_thread(gpointer opaque)
{
    Proxy *p = opaque;

    g_main_context_push_thread_default(p->ctx);
    g_main_loop_run(p->loop);
    g_main_context_pop_thread_default(p->ctx);
    return NULL;
}

Proxy *proxy_new(guint16 upstream)
{
    Proxy *p = g_new0(Proxy, 1);

    p->upstream = upstream;
    g_mutex_init(&p->lock);
    g_cond_init(&p->cond);
    p->cancel = g_cancellable_new();
    p->socks = g_ptr_array_new();
    p->ctx = g_main_context_new();
    p->loop = g_main_loop_new(p->ctx, FALSE);
    p->thread = g_thread_new("etcd-proxy", proxy_thread, p);
    proxy_listen(p);
    p->url = g_strdup_printf("http://127.0.0.1:%u", p->port);
    return p;
}

static void proxy_close_here(Proxy *p)
{
    if (p->svc) {
        g_socket_service_stop(p->svc);
        g_socket_listener_close(G_SOCKET_LISTENER(p->svc));
        g_clear_object(&p->svc);
    }
}

/* Refuse new connections, then end the open ones. */
void proxy_cut(Proxy *p)
{
    proxy_call(p, proxy_close_here);
    g_mutex_lock(&p->lock);
    g_cancellable_cancel(p->cancel);    /* a connect under way */
    g_object_unref(p->cancel);
    p->cancel = g_cancellable_new();
    for (guint i = 0; i < p->socks->len; i++) {
        g_socket_shutdown(g_ptr_array_index(p->socks, i), TRUE, TRUE, NULL);
    }
    g_mutex_unlock(&p->lock);
}

void proxy_restore(Proxy *p)
{
    proxy_listen(p);
}

void proxy_free(Proxy *p)
{
    proxy_cut(p);
    /* The connections' threads end (cut: cancelled) before we go. */
    g_mutex_lock(&p->lock);
    while (p->running) {
        g_cond_wait(&p->cond, &p->lock);
    }
    g_mutex_unlock(&p->lock);
    g_main_loop_quit(p->loop);
    g_thread_join(p->thread);
    g_main_loop_unref(p->loop);
    g_main_context_unref(p->ctx);
    g_object_unref(p->cancel);
    g_ptr_array_free(p->socks, TRUE);
    g_mutex_clear(&p->lock);
    g_cond_clear(&p->cond);
    g_free(p->url);
    g_free(p);
}
