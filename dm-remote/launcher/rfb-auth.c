/*
 * Server role: the RFB handshake toward a display's VNC server (see
 * rfb-auth.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdbool.h>
#include <string.h>
#include <nettle/des.h>

#include "rfb-auth.h"

#define RFB_NONE 1
#define RFB_VNC_AUTH 2
/* The longest refusal reason read; a longer one is not shown. */
#define RFB_REASON_MAX 200

typedef enum {
    STEP_VERSION,               /* the server's 12 bytes */
    STEP_COUNT,                 /* the number of security types */
    STEP_TYPES,
    STEP_CHALLENGE,             /* VNC authentication's 16 bytes */
    STEP_RESULT,                /* SecurityResult */
    STEP_REASON_LEN,            /* a refusal's reason */
    STEP_REASON,
} RfbStep;

typedef struct RfbAuth {
    GIOStream *io;
    char *password;
    GCancellable *cancel;
    DmRfbAuthFn *done;
    gpointer opaque;
    RfbStep step;
    gsize want;                 /* bytes the step reads */
    const char *refused;        /* what the reason explains */
    guint8 buf[256];             /* up to 255 types, or a reason */
    guint8 out[16];
} RfbAuth;

static void rfb_finish(RfbAuth *a, const char *why)
{
    a->done(why ? NULL : a->io, why, a->opaque);
    g_object_unref(a->io);
    g_object_unref(a->cancel);
    explicit_bzero(a->password, strlen(a->password));
    g_free(a->password);
    explicit_bzero(a, sizeof(*a));
    g_free(a);
}

static void rfb_read_done(GObject *src, GAsyncResult *res, gpointer opaque);

static void rfb_read(RfbAuth *a, gsize n, RfbStep step)
{
    a->step = step;
    a->want = n;
    g_input_stream_read_all_async(g_io_stream_get_input_stream(a->io),
                                  a->buf, n, G_PRIORITY_DEFAULT, a->cancel,
                                  rfb_read_done, a);
}

typedef struct RfbThen {
    RfbAuth *a;
    gsize n;
    RfbStep step;
} RfbThen;

static void rfb_write_done(GObject *src, GAsyncResult *res, gpointer opaque)
{
    RfbThen *t = opaque;
    RfbAuth *a = t->a;
    g_autoptr(GError) err = NULL;

    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(src), res, NULL,
                                          &err)) {
        rfb_finish(a, err->message);
    } else {
        rfb_read(a, t->n, t->step);
    }
    g_free(t);
}

/* Send @len bytes of a->out, then read @n for @step. */
static void rfb_send(RfbAuth *a, gsize len, gsize n, RfbStep step)
{
    RfbThen *t = g_new0(RfbThen, 1);

    t->a = a;
    t->n = n;
    t->step = step;
    g_output_stream_write_all_async(g_io_stream_get_output_stream(a->io),
                                    a->out, len, G_PRIORITY_DEFAULT,
                                    a->cancel, rfb_write_done, t);
}

static guint8 rfb_mirror(guint8 b)
{
    guint8 r = 0;

    for (int i = 0; i < 8; i++) {
        r |= ((b >> i) & 1) << (7 - i);
    }
    return r;
}

void dm_rfb_vnc_response(const char *password, guint8 challenge[16])
{
    guint8 key[DES_KEY_SIZE] = { 0 };
    struct des_ctx des;

    for (size_t i = 0; i < DES_KEY_SIZE && password[i]; i++) {
        key[i] = rfb_mirror((guint8)password[i]);
    }
    /* A weak key is still a key; parity bits are ignored. */
    des_set_key(&des, key);
    des_encrypt(&des, 16, challenge, challenge);    /* ECB, two blocks */
    explicit_bzero(key, sizeof(key));
    explicit_bzero(&des, sizeof(des));
}

/* The security type to choose among a->buf[0..@n), or 0. */
static guint8 rfb_choose(RfbAuth *a, gsize n)
{
    bool none = false;

    for (gsize i = 0; i < n; i++) {
        if (a->buf[i] == RFB_VNC_AUTH && *a->password) {
            return RFB_VNC_AUTH;
        }
        none |= a->buf[i] == RFB_NONE;
    }
    return none ? RFB_NONE : 0;
}

static void rfb_step(RfbAuth *a)
{
    g_autofree char *why = NULL;
    guint32 u32;

    switch (a->step) {
    case STEP_VERSION:
        /* "RFB 003.00N\n": 3.7 and 3.8 list their security types. */
        if (memcmp(a->buf, "RFB 003.00", 10) != 0 || a->buf[11] != '\n' ||
            a->buf[10] < '7' || a->buf[10] > '8') {
            rfb_finish(a, "the VNC server speaks no RFB 3.7 or 3.8");
            return;
        }
        memcpy(a->out, "RFB 003.008\n", 12);
        rfb_send(a, 12, 1, STEP_COUNT);
        return;
    case STEP_COUNT:
        if (a->buf[0] == 0) {
            a->refused = "the VNC server refused the connection";
            rfb_read(a, 4, STEP_REASON_LEN);
        } else {
            rfb_read(a, a->buf[0], STEP_TYPES);
        }
        return;
    case STEP_TYPES:
        a->out[0] = rfb_choose(a, a->want);
        if (a->out[0] == 0) {
            rfb_finish(a, "the VNC server offers neither VNC "
                       "authentication nor None");
        } else if (a->out[0] == RFB_VNC_AUTH) {
            rfb_send(a, 1, 16, STEP_CHALLENGE);
        } else {
            rfb_send(a, 1, 4, STEP_RESULT);
        }
        return;
    case STEP_CHALLENGE:
        memcpy(a->out, a->buf, 16);
        dm_rfb_vnc_response(a->password, a->out);
        rfb_send(a, 16, 4, STEP_RESULT);
        return;
    case STEP_RESULT:
        memcpy(&u32, a->buf, 4);
        if (u32 == 0) {
            rfb_finish(a, NULL);
            return;
        }
        a->refused = "the VNC server refused the password";
        rfb_read(a, 4, STEP_REASON_LEN);
        return;
    case STEP_REASON_LEN:
        memcpy(&u32, a->buf, 4);
        u32 = GUINT32_FROM_BE(u32);
        if (u32 == 0 || u32 > RFB_REASON_MAX) {
            rfb_finish(a, a->refused);
        } else {
            rfb_read(a, u32, STEP_REASON);
        }
        return;
    case STEP_REASON:
        why = g_strdup_printf("%s: %s", a->refused, (char *)a->buf);
        rfb_finish(a, why);
        return;
    }
}

static void rfb_read_done(GObject *src, GAsyncResult *res, gpointer opaque)
{
    RfbAuth *a = opaque;
    g_autoptr(GError) err = NULL;
    gsize got = 0;

    if (!g_input_stream_read_all_finish(G_INPUT_STREAM(src), res, &got,
                                        &err)) {
        rfb_finish(a, err->message);
        return;
    }
    if (got < a->want) {
        rfb_finish(a, "the VNC server closed the connection");
        return;
    }
    a->buf[got] = '\0';          /* a reason is shown as text */
    rfb_step(a);
}

void dm_rfb_auth(GIOStream *io, const char *password, GCancellable *cancel,
                 DmRfbAuthFn *done, gpointer opaque)
{
    RfbAuth *a = g_new0(RfbAuth, 1);

    a->io = g_object_ref(io);
    a->password = g_strdup(password ? password : "");
    a->cancel = cancel ? g_object_ref(cancel) : g_cancellable_new();
    a->done = done;
    a->opaque = opaque;
    rfb_read(a, 12, STEP_VERSION);
}
