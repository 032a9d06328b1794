/*
 * A TCP proxy on 127.0.0.1 to a port there (etcd's), in the test's
 * process, that the test cuts (new connections refused, open ones ended)
 * and restores on the same port: an endpoint gone and back, while etcd
 * itself goes on (test-etcd-watch.c, test-stream.c).  It accepts in a
 * thread of its own (the test's main thread may be blocked in a call
 * through it), each connection in a thread of the service's.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_TEST_ETCD_PROXY_H
#define ORCH_TEST_ETCD_PROXY_H

#include <gio/gio.h>

typedef struct Proxy {
    GSocketService *svc;        /* NULL while cut */
    guint16 port;
    guint16 upstream;
    char *url;                  /* http://127.0.0.1:PORT */
    GMutex lock;
    GCancellable *cancel;       /* the connections made since the last cut */
    GCond cond;
    unsigned running;           /* connections' threads not yet done */
    GPtrArray *socks;           /* theirs, both ends: a cut shuts them */
    GMainContext *ctx;          /* the proxy's thread's: it accepts there */
    GMainLoop *loop;
    GThread *thread;
} Proxy;

Proxy *proxy_new(guint16 upstream);
void proxy_cut(Proxy *p);
void proxy_restore(Proxy *p);
void proxy_free(Proxy *p);

#endif
