/*
 * A 16550A at 0x3f8, IRQ 4, one test body, two back ends:
 *   local   QEMU's isa-serial, its output to a file chardev
 *   remote  -remote-device bus=isa -> dm-remote uart16550, its console
 *           a file on the server side
 *   remote-tcp  the same over TCP loopback (the IRQ as DM_IRQ messages)
 * Registers (LSR, THR, IER, IIR, LCR/DLAB, MCR loopback, scratch, FIFO
 * detection), the interrupt line, and the bytes that reach the output.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "libqtest.h"

#include "dm-qtest-util.h"

#define BASE    0x3f8
#define IRQ     4
#define RBR     0
#define THR     0
#define IER     1
#define IIR     2
#define FCR     2
#define LCR     3
#define MCR     4
#define LSR     5
#define MSR     6
#define SCR     7

typedef struct Uart {
    QTestState *qts;
    DmRemote *remote;
    char *dir;
    char *out;                  /* where the UART's output lands */
    bool keep_state;            /* the model with --state-file */
    char *state;
} Uart;

enum { LOCAL, REMOTE, REMOTE_TCP };

static void uart_start(Uart *u, int backend)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *console = NULL;

    u->dir = g_dir_make_tmp("dm-uart-XXXXXX", &err);
    g_assert_no_error(err);
    u->out = g_build_filename(u->dir, "out", NULL);
    if (backend != LOCAL) {
        const char *args[] = { "--console", NULL, NULL, NULL, NULL };

        console = g_strdup_printf("file:%s", u->out);
        args[1] = console;
        if (u->keep_state) {
            u->state = g_build_filename(u->dir, "state", NULL);
            args[2] = "--state-file";
            args[3] = u->state;
        }
        u->remote = backend == REMOTE_TCP ?
                    dm_remote_start_tcp("uart16550", args) :
                    dm_remote_start("uart16550", args);
        u->qts = qtest_initf("-machine pc -nodefaults -serial none "
                             "-remote-device id=ser0,bus=isa,server=%s,"
                             "iobase=0x3f8,irq=4", u->remote->connect);
    } else {
        u->qts = qtest_initf("-machine pc -nodefaults "
                             "-chardev file,id=out,path=%s "
                             "-device isa-serial,chardev=out,iobase=0x3f8,"
                             "irq=4", u->out);
    }
    qtest_irq_intercept_in(u->qts, "ioapic");
}

static void uart_stop(Uart *u)
{
    qtest_quit(u->qts);
    if (u->remote) {
        dm_remote_stop(u->remote);
    }
    unlink(u->out);
    if (u->state) {
        g_autofree char *applied = g_strdup_printf("%s.applied", u->state);

        unlink(u->state);
        unlink(applied);
        g_free(u->state);
    }
    rmdir(u->dir);
    g_free(u->out);
    g_free(u->dir);
}

static uint8_t in(Uart *u, int reg)
{
    return qtest_inb(u->qts, BASE + reg);
}

static void out(Uart *u, int reg, uint8_t val)
{
    qtest_outb(u->qts, BASE + reg, val);
}

/* The line at the interrupt controller; a RAM read lets the main loop run. */
static bool irq(Uart *u)
{
    qtest_readb(u->qts, 0x1000);
    return qtest_get_irq(u->qts, IRQ);
}

/*
 * Is the line low, as a guest's handler would find it?  With a remote
 * model, an interrupt signalled just before the level dropped may still
 * be in flight; the next port access ends it (VFIO's EOI), so poll with
 * one that has no side effect.
 */
static bool irq_low(Uart *u)
{
    in(u, SCR);
    return !irq(u);
}

static void test_registers(const void *data)
{
    Uart u = { 0 };

    uart_start(&u, GPOINTER_TO_INT(data));
    g_assert_cmphex(in(&u, LSR) & 0x60, ==, 0x60);     /* THRE, TEMT */
    g_assert_cmphex(in(&u, IIR) & 0x0f, ==, 0x01);     /* no interrupt */
    g_assert_cmphex(in(&u, IER), ==, 0);

    out(&u, SCR, 0xa5);
    g_assert_cmphex(in(&u, SCR), ==, 0xa5);
    out(&u, IER, 0x0f);
    g_assert_cmphex(in(&u, IER), ==, 0x0f);
    out(&u, IER, 0);

    /* Divisor latch behind DLAB. */
    out(&u, LCR, 0x80);
    out(&u, 0, 0x01);
    out(&u, 1, 0x02);
    g_assert_cmphex(in(&u, 0), ==, 0x01);
    g_assert_cmphex(in(&u, 1), ==, 0x02);
    out(&u, LCR, 0x03);
    g_assert_cmphex(in(&u, LCR), ==, 0x03);
    g_assert_cmphex(in(&u, IER), ==, 0);

    /* Loopback: what we send comes back, with data ready. */
    out(&u, MCR, 0x10);
    out(&u, THR, 'Z');
    g_assert_cmphex(in(&u, LSR) & 0x01, ==, 0x01);
    g_assert_cmphex(in(&u, RBR), ==, 'Z');
    g_assert_cmphex(in(&u, LSR) & 0x01, ==, 0);
    /* MSR mirrors MCR's outputs in loopback. */
    out(&u, MCR, 0x1f);
    g_assert_cmphex(in(&u, MSR) & 0xf0, ==, 0xf0);
    out(&u, MCR, 0x08);

    /* A 16550A: enabling the FIFO shows in IIR's top bits. */
    out(&u, FCR, 0x01);
    g_assert_cmphex(in(&u, IIR) & 0xc0, ==, 0xc0);
    out(&u, FCR, 0x00);
    g_assert_cmphex(in(&u, IIR) & 0xc0, ==, 0);
    uart_stop(&u);
}

static void test_thre_interrupt(const void *data)
{
    Uart u = { 0 };

    uart_start(&u, GPOINTER_TO_INT(data));
    g_assert_false(irq(&u));

    /* Enabling THRE with THR empty raises it at once. */
    out(&u, IER, 0x02);
    DM_WAIT_UNTIL(irq(&u));
    g_assert_true(irq(&u));
    g_assert_cmphex(in(&u, IIR) & 0x0f, ==, 0x02);
    /* Reading IIR acknowledged it. */
    DM_WAIT_UNTIL(irq_low(&u));
    g_assert_true(irq_low(&u));
    g_assert_cmphex(in(&u, IIR) & 0x0f, ==, 0x01);

    /* Each byte sent re-arms it. */
    out(&u, THR, 'a');
    DM_WAIT_UNTIL(irq(&u));
    g_assert_true(irq(&u));
    out(&u, IER, 0);
    DM_WAIT_UNTIL(irq_low(&u));
    g_assert_true(irq_low(&u));
    uart_stop(&u);
}

static void test_receive_interrupt(const void *data)
{
    Uart u = { 0 };

    uart_start(&u, GPOINTER_TO_INT(data));
    out(&u, MCR, 0x10);                 /* loopback feeds the receiver */
    out(&u, IER, 0x01);
    g_assert_false(irq(&u));
    out(&u, THR, 'q');
    DM_WAIT_UNTIL(irq(&u));
    g_assert_true(irq(&u));
    g_assert_cmphex(in(&u, IIR) & 0x0f, ==, 0x04);     /* data available */
    g_assert_cmphex(in(&u, RBR), ==, 'q');
    DM_WAIT_UNTIL(irq_low(&u));
    g_assert_true(irq_low(&u));
    g_assert_cmphex(in(&u, IIR) & 0x0f, ==, 0x01);
    uart_stop(&u);
}

/* The output file once it holds @want bytes (bounded wait). */
static char *wait_output(Uart *u, gsize want)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    for (;;) {
        char *got = NULL;
        gsize len = 0;

        if (g_file_get_contents(u->out, &got, &len, NULL) &&
            (len >= want || g_get_monotonic_time() > deadline)) {
            return got;
        }
        g_free(got);
        g_usleep(1000);
    }
}

static void test_output(const void *data)
{
    Uart u = { 0 };
    const char *msg = "hello, remote console\r\n";
    g_autofree char *got = NULL;

    uart_start(&u, GPOINTER_TO_INT(data));
    for (const char *p = msg; *p; p++) {
        DM_WAIT_UNTIL(in(&u, LSR) & 0x20);
        out(&u, THR, *p);
    }
    /* Still in order behind the posted writes: a read flushes them. */
    g_assert_cmphex(in(&u, LSR) & 0x20, ==, 0x20);
    got = wait_output(&u, strlen(msg));
    g_assert_cmpstr(got, ==, msg);
    uart_stop(&u);
}

/*
 * Posted writes a killed model never applied reach the model started
 * again (dm_applied), and only those: the bytes it had sent are not
 * sent twice, the ones stuck in its socket are sent once, and a set-up
 * write stuck with them is not lost.
 */
static void test_lost_posted_writes(const void *data)
{
    Uart u = { .keep_state = true };
    g_autofree char *got = NULL, *all = NULL;

    uart_start(&u, GPOINTER_TO_INT(data));
    out(&u, LCR, 0x03);
    g_assert_cmphex(in(&u, LCR), ==, 0x03);
    /* Applied, as the output shows, but no reply has confirmed them. */
    out(&u, THR, 'a');
    out(&u, THR, 'b');
    out(&u, THR, 'c');
    got = wait_output(&u, 3);
    g_assert_cmpstr(got, ==, "abc");

    dm_remote_pause(u.remote, true);
    out(&u, THR, 'd');
    out(&u, LCR, 0x1b);
    out(&u, THR, 'e');
    out(&u, THR, 'f');
    dm_remote_kill(u.remote);
    dm_remote_restart(u.remote);
    qtest_qmp_eventwait(u.qts, "REMOTE_DEVICE_RECONNECTED");

    g_assert_cmphex(in(&u, LCR), ==, 0x1b);
    all = wait_output(&u, 6);
    g_assert_cmpstr(all, ==, "abcdef");
    uart_stop(&u);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*fn)(const void *);
    } tests[] = {
        { "registers", test_registers },
        { "thre-interrupt", test_thre_interrupt },
        { "receive-interrupt", test_receive_interrupt },
        { "output", test_output },
    };

    static const char *const backends[] = {
        [LOCAL] = "local", [REMOTE] = "remote", [REMOTE_TCP] = "remote-tcp",
    };

    g_test_init(&argc, &argv, NULL);
    for (int b = 0; b < G_N_ELEMENTS(backends); b++) {
        for (size_t t = 0; t < G_N_ELEMENTS(tests); t++) {
            g_autofree char *path = g_strdup_printf(
                "/dm/uart/%s/%s", backends[b], tests[t].name);

            qtest_add_data_func(path, GINT_TO_POINTER(b), tests[t].fn);
        }
    }
    /* A model's faults: remote back ends only. */
    qtest_add_data_func("/dm/uart/remote/lost-posted-writes",
                        GINT_TO_POINTER(REMOTE), test_lost_posted_writes);
    qtest_add_data_func("/dm/uart/remote-tcp/lost-posted-writes",
                        GINT_TO_POINTER(REMOTE_TCP), test_lost_posted_writes);
    return g_test_run();
}
