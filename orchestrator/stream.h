/*
 * dm-orchestrator: live events as server-sent events (stream.c).
 *
 *   GET /v1/events/stream[?since=ID]
 *
 * text/event-stream: each event (store-events.h) as
 * "id: ID\nevent: vm\ndata: {EVENT as /v1/events has it}\n\n", in
 * order, as it is committed.  From after event ID (the query's since, or
 * the Last-Event-ID header a reconnecting EventSource sends), else from
 * now on.  The store is read on the main thread, by id after the
 * client's last event, at most every ORCH_STREAM_TICK_MS while a client
 * is connected, so any writer's events are seen, once committed: on
 * SQLite at every tick; on etcd only when the store's watch on the
 * events (common/etcd-watch.h, a thread of its own) saw one written, or
 * while a backlog drains: an idle stream makes no call to etcd.
 *
 * A client has at most about ORCH_STREAM_MAX_QUEUED bytes queued that its
 * socket has not taken (a backlog waits in the store meanwhile); one
 * whose queue stays full with no byte taken for ORCH_STREAM_STALL_MS is
 * disconnected (and logged).  It is never waited for.  At most
 * ORCH_STREAM_MAX_CLIENTS at once (503 beyond).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_STREAM_H
#define ORCH_STREAM_H

#include <libsoup/soup.h>

#define ORCH_STREAM_TICK_MS 250
#define ORCH_STREAM_MAX_QUEUED (256 * 1024)
#define ORCH_STREAM_STALL_MS 5000
#define ORCH_STREAM_MAX_CLIENTS 16

typedef struct OrchStream OrchStream;

/* The events' stream, read from the store (store-events.h). */
OrchStream *orch_stream_new(void);
/* Disconnect every client. */
void orch_stream_free(OrchStream *s);
/* Answer @msg (GET /v1/events/stream) with the stream, or an error. */
void orch_stream_open(OrchStream *s, SoupServerMessage *msg,
                      GHashTable *query);

#endif /* ORCH_STREAM_H */
