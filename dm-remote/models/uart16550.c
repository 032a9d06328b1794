/*
 * uart16550: a 16550A UART, enough for Linux's 8250 driver with
 * interrupt-driven transmit and receive.  Its console is on the server
 * (--console): the patent's central console device.
 *
 * A vfio "platform" device: region 0 is the 8 port registers, IRQ index 0
 * the interrupt line (level, automasked like PCI INTx).
 *
 * Register behaviour follows QEMU's hw/char/serial.c where Linux looks
 * (IIR priorities and the THRE re-arm, FIFO detection, loopback for the
 * driver's probe), so that the same register-level test passes on both.
 * Transmission is instant: a byte written to THR is on the console at
 * once, and THR is empty again.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "log.h"
#include "model.h"

#define UART_REGS       8
#define FIFO_SIZE       16

#define IER_RDI         0x01    /* received data available */
#define IER_THRI        0x02    /* transmitter holding register empty */
#define IER_RLSI        0x04    /* receiver line status */
#define IER_MSI         0x08    /* modem status */

#define IIR_NO_INT      0x01
#define IIR_MSI         0x00
#define IIR_THRI        0x02
#define IIR_RDI         0x04
#define IIR_RLSI        0x06
#define IIR_FIFO_ON     0xc0

#define FCR_ENABLE      0x01
#define FCR_CLEAR_RX    0x02
#define FCR_CLEAR_TX    0x04

#define LCR_DLAB        0x80
#define MCR_DTR         0x01
#define MCR_RTS         0x02
#define MCR_OUT1        0x04
#define MCR_OUT2        0x08
#define MCR_LOOP        0x10

#define LSR_DR          0x01
#define LSR_OE          0x02
#define LSR_THRE        0x20
#define LSR_TEMT        0x40

/* In the saved thr_ipending byte: a set-up save (a kill may follow). */
#define UART_SAVED_SETUP 0x02

#define MSR_CTS         0x10
#define MSR_DSR         0x20
#define MSR_RI          0x40
#define MSR_DCD         0x80

typedef struct Uart {
    DmDevice *dev;
    DmConsole *console;
    const char *console_spec;   /* properties */
    uint64_t iobase, irq;
    uint16_t divider;
    uint8_t ier, iir, lcr, mcr, lsr, msr, scr, fcr;
    bool thr_ipending;          /* THRE interrupt armed */
    uint8_t rx[FIFO_SIZE];
    unsigned rx_head, rx_count;
} Uart;

static void uart_update_irq(Uart *u)
{
    uint8_t iir = IIR_NO_INT;

    if ((u->ier & IER_RLSI) && (u->lsr & LSR_OE)) {
        iir = IIR_RLSI;
    } else if ((u->ier & IER_RDI) && u->rx_count) {
        iir = IIR_RDI;
    } else if ((u->ier & IER_THRI) && u->thr_ipending) {
        iir = IIR_THRI;
    }
    u->iir = iir | ((u->fcr & FCR_ENABLE) ? IIR_FIFO_ON : 0);
    if (iir != IIR_NO_INT) {
        dm_irq_raise(u->dev, 0);
    } else {
        dm_irq_lower(u->dev, 0);
    }
}

/*
 * The driver changed how the line is set up (speed, framing, FIFOs,
 * modem control, which interrupts it wants): with --state-file this is
 * written at once, so that a model killed with SIGKILL comes back as the
 * driver left it.  Linux's 8250 driver keeps a copy of IER and MCR and
 * never writes them again: a restarted UART at its reset values would
 * interrupt nobody (IER 0) and the console would be dead for good.
 */
static void uart_setup_changed(Uart *u)
{
    dm_device_state_changed(u->dev);
}

static void uart_rx_push(Uart *u, uint8_t b)
{
    if (u->rx_count == FIFO_SIZE) {
        u->lsr |= LSR_OE;
        return;
    }
    u->rx[(u->rx_head + u->rx_count) % FIFO_SIZE] = b;
    u->rx_count++;
    u->lsr |= LSR_DR;
}

static size_t uart_console_input(void *opaque, const uint8_t *buf,
                                 size_t len)
{
    Uart *u = opaque;
    size_t n = 0;

    /* Loopback mode disconnects the line from the outside world. */
    if (u->mcr & MCR_LOOP) {
        return len;
    }
    while (n < len && u->rx_count < FIFO_SIZE) {
        uart_rx_push(u, buf[n++]);
    }
    if (n) {
        uart_update_irq(u);
    }
    return n;
}

static uint8_t uart_rx_pop(Uart *u)
{
    uint8_t b = 0;

    if (u->rx_count) {
        b = u->rx[u->rx_head];
        u->rx_head = (u->rx_head + 1) % FIFO_SIZE;
        u->rx_count--;
    }
    if (!u->rx_count) {
        u->lsr &= ~LSR_DR;
    }
    return b;
}

static uint64_t uart_read(void *opaque, uint64_t addr, unsigned size)
{
    Uart *u = opaque;
    uint8_t v = 0xff;

    switch (addr) {
    case 0:
        if (u->lcr & LCR_DLAB) {
            return u->divider & 0xff;
        }
        v = uart_rx_pop(u);
        uart_update_irq(u);
        if (u->console && !(u->mcr & MCR_LOOP)) {
            dm_console_resume_input(u->console);
        }
        break;
    case 1:
        v = (u->lcr & LCR_DLAB) ? u->divider >> 8 : u->ier;
        break;
    case 2:
        v = u->iir;
        /* Reading IIR while it reports THRE acknowledges it. */
        if ((v & 0x0f) == IIR_THRI) {
            u->thr_ipending = false;
            uart_update_irq(u);
        }
        break;
    case 3:
        v = u->lcr;
        break;
    case 4:
        v = u->mcr;
        break;
    case 5:
        v = u->lsr;
        u->lsr &= ~LSR_OE;      /* errors clear on read */
        uart_update_irq(u);
        break;
    case 6:
        if (u->mcr & MCR_LOOP) {
            v = ((u->mcr & (MCR_OUT1 | MCR_OUT2)) << 4) |
                ((u->mcr & MCR_RTS) << 3) | ((u->mcr & MCR_DTR) << 5);
        } else {
            v = u->msr;
        }
        break;
    case 7:
        v = u->scr;
        break;
    }
    return v;
}

static void uart_write(void *opaque, uint64_t addr, uint64_t val,
                       unsigned size)
{
    Uart *u = opaque;
    uint8_t b = val;
    unsigned old;

    switch (addr) {
    case 0:
        if (u->lcr & LCR_DLAB) {
            old = u->divider;
            u->divider = (u->divider & 0xff00) | b;
            if (u->divider != old) {
                uart_setup_changed(u);
            }
            break;
        }
        if (u->mcr & MCR_LOOP) {
            uart_rx_push(u, b);
        } else if (u->console) {
            dm_console_write(u->console, &b, 1);
        }
        /* Sent at once: THR is empty again and THRE re-armed. */
        u->lsr |= LSR_THRE | LSR_TEMT;
        u->thr_ipending = true;
        uart_update_irq(u);
        break;
    case 1:
        if (u->lcr & LCR_DLAB) {
            old = u->divider;
            u->divider = (u->divider & 0x00ff) | (b << 8);
            if (u->divider != old) {
                uart_setup_changed(u);
            }
            break;
        }
        /*
         * THRI written with THR empty raises THRE, at every such write:
         * QEMU's serial.c does it only when THRI turns on (the datasheet
         * is silent, parts differ).  A model started again after a kill
         * cannot know whether the driver's copy of IER matches its own (a
         * posted write lost with the old process), and Linux turns THRI
         * on only when its copy says off: that write must bring THRE, or
         * the driver waits for it for good.  A write that keeps THRI on
         * costs an interrupt the driver acknowledges.
         */
        if ((b & IER_THRI) && (u->lsr & LSR_THRE)) {
            u->thr_ipending = true;
        }
        old = u->ier;
        u->ier = b & 0x0f;
        uart_update_irq(u);
        if (u->ier != old) {
            uart_setup_changed(u);
        }
        break;
    case 2:
        if (b & FCR_CLEAR_RX) {
            u->rx_count = 0;
            u->lsr &= ~(LSR_DR | LSR_OE);
        }
        old = u->fcr;
        u->fcr = b & (FCR_ENABLE | 0xc0);
        uart_update_irq(u);
        if (u->fcr != old) {
            uart_setup_changed(u);
        }
        break;
    case 3:
        if (u->lcr != b) {
            u->lcr = b;
            uart_setup_changed(u);
        }
        break;
    case 4:
        if (u->mcr != (b & 0x1f)) {
            u->mcr = b & 0x1f;
            uart_setup_changed(u);
        }
        break;
    case 7:
        u->scr = b;
        break;
    }
}

static const DmRegionOps uart_ops = {
    .read = uart_read,
    .write = uart_write,
};

static void uart_reset(DmDevice *dev)
{
    Uart *u = dm_device_state(dev);

    u->divider = 12;            /* 9600 baud */
    u->ier = 0;
    u->lcr = 0;
    u->mcr = MCR_OUT2;
    u->lsr = LSR_THRE | LSR_TEMT;
    u->msr = MSR_DCD | MSR_DSR | MSR_CTS;
    u->scr = 0;
    u->fcr = 0;
    u->thr_ipending = false;
    u->rx_count = 0;
    uart_update_irq(u);
}

static void uart_save(DmDevice *dev, DmStateOut *out)
{
    Uart *u = dm_device_state(dev);
    bool setup = dm_device_saving_setup(dev);
    uint8_t regs[] = { u->ier, u->iir, u->lcr, u->mcr, u->lsr, u->msr,
                       u->scr, u->fcr,
                       u->thr_ipending | (setup ? UART_SAVED_SETUP : 0) };

    /*
     * Received bytes are kept at a stop, not in a save for the set-up:
     * the guest may read them before a kill, and would read them twice.
     */
    unsigned rx_count = setup ? 0 : u->rx_count;

    dm_state_put_u64(out, u->divider);
    dm_state_put(out, regs, sizeof(regs));
    dm_state_put_u64(out, rx_count);
    for (unsigned i = 0; i < rx_count; i++) {
        dm_state_put(out, &u->rx[(u->rx_head + i) % FIFO_SIZE], 1);
    }
}

static void uart_load(DmDevice *dev, DmStateIn *in, uint32_t version)
{
    Uart *u = dm_device_state(dev);
    uint8_t regs[9];
    uint64_t divider, count;

    divider = dm_state_get_u64(in);
    dm_state_get(in, regs, sizeof(regs));
    count = dm_state_get_u64(in);
    if (divider > UINT16_MAX || count > FIFO_SIZE ||
        regs[8] > (1 | UART_SAVED_SETUP)) {
        dm_state_fail(in);
        return;
    }
    u->divider = divider;
    u->ier = regs[0];
    u->iir = regs[1];
    u->lcr = regs[2];
    u->mcr = regs[3];
    u->lsr = regs[4];
    u->msr = regs[5];
    u->scr = regs[6];
    u->fcr = regs[7];
    u->thr_ipending = regs[8] & 1;
    u->rx_head = 0;
    u->rx_count = count;
    dm_state_get(in, u->rx, count);
    /*
     * Nothing is being sent by a new process: THR is empty.  If the
     * driver wants THRE, raise it: a kill may have taken the interrupt
     * it waits for (one it did not wait for it acknowledges and stops).
     */
    u->lsr = (u->lsr & ~LSR_DR) | LSR_THRE | LSR_TEMT | (count ? LSR_DR : 0);
    /*
     * After a kill, the driver's last IER write may not be in the file:
     * a posted write in flight, or a set-up write the token bucket was
     * holding back.  Linux's driver keeps its own copy of IER; believing
     * THRI on, it would wait for a THRE interrupt for good (its output
     * stopped).  So THRI comes back on: a driver that wanted it sends,
     * one that did not takes one interrupt (reading IIR acknowledges it)
     * and writes IER again at its next send.
     */
    if (regs[8] & UART_SAVED_SETUP) {
        u->ier |= IER_THRI;
    }
    if (u->ier & IER_THRI) {
        u->thr_ipending = true;
    }
    uart_update_irq(u);
}

/* SIGUSR1: the registers and the console, for a console gone quiet. */
static void uart_dump(DmDevice *dev)
{
    Uart *u = dm_device_state(dev);

    dm_info("uart16550: ier 0x%02x iir 0x%02x lcr 0x%02x mcr 0x%02x "
            "lsr 0x%02x fcr 0x%02x, THRE %sarmed, %u bytes received",
            u->ier, u->iir, u->lcr, u->mcr, u->lsr, u->fcr,
            u->thr_ipending ? "" : "not ", u->rx_count);
    dm_console_dump(u->console);
}

static int uart_realize(DmDevice *dev)
{
    Uart *u = dm_device_state(dev);
    char err[256];
    int ret;

    u->dev = dev;
    dm_device_init_region(dev, 0, UART_REGS, &uart_ops, u);
    /* Where the client puts it unless it says otherwise. */
    dm_device_set_isa_defaults(dev, 0, u->iobase, u->irq);
    ret = dm_device_init_irq(dev, 0, 1, VUP_IRQ_INFO_EVENTFD |
                             VUP_IRQ_INFO_MASKABLE | VUP_IRQ_INFO_AUTOMASKED);
    if (ret < 0) {
        return ret;
    }
    u->console = dm_console_open(u->console_spec, dm_device_loop(dev),
                                 uart_console_input, u, err, sizeof(err));
    if (!u->console) {
        dm_error("uart16550: %s", err);
        return -EINVAL;
    }
    uart_reset(dev);
    return 0;
}

static void uart_unrealize(DmDevice *dev)
{
    Uart *u = dm_device_state(dev);

    dm_console_close(u->console);
}

static const DmProp uart_props[] = {
    DM_PROP_STRING_CHECKED("console", Uart, console_spec, "stdio",
                           dm_console_check_spec,
                           "where the console is: stdio, file:PATH or "
                           "unix:PATH (the last 64 KiB are replayed to "
                           "whoever attaches)"),
    DM_PROP_UINT64("iobase", Uart, iobase, "0x3f8", 0, 0xfff8,
                   "I/O port the client maps it at unless told otherwise "
                   "(COM1)"),
    DM_PROP_UINT64("irq", Uart, irq, "4", 0, 15,
                   "ISA IRQ line the client wires unless told otherwise"),
    DM_PROP_END,
};

static const DmModel dm_model_uart16550 = {
    .name = "uart16550",
    .description = "16550A UART, console on the server (console=)",
    .bus = DM_BUS_PLATFORM,
    .state_size = sizeof(Uart),
    .props = uart_props,
    .realize = uart_realize,
    .reset = uart_reset,
    .state_version = 1,
    .save = uart_save,
    .load = uart_load,
    .unrealize = uart_unrealize,
    .dump = uart_dump,
};
DM_MODEL_REGISTER(dm_model_uart16550)
