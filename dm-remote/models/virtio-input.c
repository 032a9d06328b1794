/*
 * virtio-input: a keyboard and a tablet whose events come from the
 * server (a VNC viewer through the display model, or a test), on the
 * virtio-pci transport (virtio 1.2 section 5.8, device id 18).
 *
 *   dm-remote serve --model virtio-keyboard[,input=unix:PATH][,queue=N]
 *   dm-remote serve --model virtio-tablet[,input=unix:PATH][,queue=N]
 *
 * Queues: eventq 0 (the device fills the guest's 8-byte buffers with
 * events), statusq 1 (the driver tells the keyboard's LEDs: read,
 * counted and logged).  No feature bits of its own.
 *
 * The config space is a question and an answer: the driver writes
 * select and subsel, the device answers with size and the bytes.  What
 * is answered (docs/input-link.md's list): ID_NAME, ID_SERIAL (the
 * serial= property, else size 0), ID_DEVIDS, PROP_BITS (none), EV_BITS
 * per event type, ABS_INFO per axis; anything else, size 0.
 *
 * Events come through the input link (input-link.c), checked against
 * what the config space advertised, and wait there in a bounded queue
 * until the guest posts eventq buffers: the loop never waits for it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vup/address.h"
#include "log.h"
#include "model.h"
#include "input-link.h"
#include "../virtio/virtio-pci.h"

#define VIRTIO_ID_INPUT         18
#define PCI_CLASS_INPUT_OTHER   0x0980

#define QUEUE_EVENT     0
#define QUEUE_STATUS    1
#define NUM_QUEUES      2
#define QUEUE_SIZE      64

/* Config selects (section 5.8.5). */
#define CFG_UNSET       0x00
#define CFG_ID_NAME     0x01
#define CFG_ID_SERIAL   0x02
#define CFG_ID_DEVIDS   0x03
#define CFG_PROP_BITS   0x10
#define CFG_EV_BITS     0x11
#define CFG_ABS_INFO    0x12

/* Linux's input-event-codes.h, the ones we speak. */
#define EV_KEY          0x01
#define EV_REL          0x02
#define EV_ABS          0x03
#define EV_LED          0x11
#define EV_REP          0x14
#define EV_MAX          0x1f
#define BTN_LEFT        0x110
#define BTN_RIGHT       0x111
#define BTN_MIDDLE      0x112
#define REL_WHEEL       0x08
#define ABS_X           0x00
#define ABS_Y           0x01
#define LED_NUML        0x00
#define LED_CAPSL       0x01
#define LED_SCROLLL     0x02
#define REP_DELAY       0x00
#define REP_PERIOD      0x01
#define KEY_FIRST       1
#define KEY_LAST        248
#define BUS_VIRTUAL     0x06

#define TABLET_MAX      32767
#define BITMAP_BYTES    128

typedef struct VirtioInputAbsInfo {
    uint32_t min, max, fuzz, flat, res;
} __attribute__((packed)) VirtioInputAbsInfo;

typedef struct VirtioInputDevIds {
    uint16_t bustype, vendor, product, version;
} __attribute__((packed)) VirtioInputDevIds;

typedef struct VirtioInputConfig {
    uint8_t select;
    uint8_t subsel;
    uint8_t size;
    uint8_t reserved[5];
    union {
        char string[128];
        uint8_t bitmap[BITMAP_BYTES];
        VirtioInputAbsInfo abs;
        VirtioInputDevIds ids;
    } u;
} __attribute__((packed)) VirtioInputConfig;
_Static_assert(sizeof(VirtioInputConfig) == 136, "virtio_input_config");

/* What a kind of device advertises; the link's records are held to it. */
typedef struct InputKind {
    const char *model;
    const char *name;           /* ID_NAME */
    uint16_t product;
    /* Event codes per type, as bitmaps; @from_link: types a client may
     * send (the LEDs and repeat are the guest's business). */
    uint8_t bits[EV_MAX + 1][BITMAP_BYTES];
    bool from_link[EV_MAX + 1];
    bool has_abs;
} InputKind;

typedef struct VirtioInput {
    DmDevice *dev;
    DmVirtio virtio;
    const InputKind *kind;
    VirtioInputConfig config;
    InputLink *link;
    DmVirtqElem elem;
    bool client_gone;
    uint32_t leds;              /* the driver's last LED state */
    uint64_t status_events;     /* statusq events read */
    /* properties */
    const char *input;
    const char *serial;
    uint64_t queue;
} VirtioInput;

static InputKind kbd_kind = {
    .model = "virtio-keyboard",
    .name = "dm-remote virtio keyboard",
    .product = 0x0001,
};
static InputKind tablet_kind = {
    .model = "virtio-tablet",
    .name = "dm-remote virtio tablet",
    .product = 0x0003,
};

static void set_bit8(uint8_t *map, unsigned bit)
{
    map[bit / 8] |= 1u << (bit % 8);
}

static bool test_bit8(const uint8_t *map, unsigned bit)
{
    return bit < BITMAP_BYTES * 8 && (map[bit / 8] & (1u << (bit % 8)));
}

/* The bitmaps, once: they are constant tables built by code. */
static void kinds_init(void)
{
    static bool done;

    if (done) {
        return;
    }
    done = true;
    for (unsigned k = KEY_FIRST; k <= KEY_LAST; k++) {
        set_bit8(kbd_kind.bits[EV_KEY], k);
    }
    set_bit8(kbd_kind.bits[EV_LED], LED_NUML);
    set_bit8(kbd_kind.bits[EV_LED], LED_CAPSL);
    set_bit8(kbd_kind.bits[EV_LED], LED_SCROLLL);
    set_bit8(kbd_kind.bits[EV_REP], REP_DELAY);
    set_bit8(kbd_kind.bits[EV_REP], REP_PERIOD);
    kbd_kind.from_link[EV_KEY] = true;

    set_bit8(tablet_kind.bits[EV_KEY], BTN_LEFT);
    set_bit8(tablet_kind.bits[EV_KEY], BTN_RIGHT);
    set_bit8(tablet_kind.bits[EV_KEY], BTN_MIDDLE);
    set_bit8(tablet_kind.bits[EV_REL], REL_WHEEL);
    set_bit8(tablet_kind.bits[EV_ABS], ABS_X);
    set_bit8(tablet_kind.bits[EV_ABS], ABS_Y);
    tablet_kind.from_link[EV_KEY] = true;
    tablet_kind.from_link[EV_REL] = true;
    tablet_kind.from_link[EV_ABS] = true;
    tablet_kind.has_abs = true;
}

/* Bytes of @map up to its last set bit: the size the driver is told. */
static unsigned bitmap_size(const uint8_t *map)
{
    unsigned n = BITMAP_BYTES;

    while (n > 0 && !map[n - 1]) {
        n--;
    }
    return n;
}

static bool abs_axis(const InputKind *k, unsigned axis)
{
    return k->has_abs && axis < 8 * BITMAP_BYTES &&
           test_bit8(k->bits[EV_ABS], axis);
}

/* Answer the question select/subsel asks, into the config. */
static void config_answer(VirtioInput *s)
{
    VirtioInputConfig *c = &s->config;
    const InputKind *k = s->kind;
    size_t len;

    memset(c->reserved, 0, sizeof(c->reserved));
    memset(&c->u, 0, sizeof(c->u));
    c->size = 0;
    switch (c->select) {
    case CFG_ID_NAME:
        if (c->subsel == 0) {
            len = strlen(k->name);
            memcpy(c->u.string, k->name, len);
            c->size = len;
        }
        break;
    case CFG_ID_SERIAL:
        if (c->subsel == 0 && s->serial) {
            len = strnlen(s->serial, sizeof(c->u.string));
            memcpy(c->u.string, s->serial, len);
            c->size = len;
        }
        break;
    case CFG_ID_DEVIDS:
        if (c->subsel == 0) {
            c->u.ids.bustype = htole16(BUS_VIRTUAL);
            c->u.ids.vendor = htole16(0x1af4);
            c->u.ids.product = htole16(k->product);
            c->u.ids.version = htole16(1);
            c->size = sizeof(c->u.ids);
        }
        break;
    case CFG_PROP_BITS:
        break;                  /* no input properties */
    case CFG_EV_BITS:
        if (c->subsel <= EV_MAX) {
            memcpy(c->u.bitmap, k->bits[c->subsel], BITMAP_BYTES);
            c->size = bitmap_size(k->bits[c->subsel]);
        }
        break;
    case CFG_ABS_INFO:
        if (abs_axis(k, c->subsel)) {
            c->u.abs.min = htole32(0);
            c->u.abs.max = htole32(TABLET_MAX);
            c->size = sizeof(c->u.abs);
        }
        break;
    default:
        break;                  /* CFG_UNSET and the unknown: size 0 */
    }
}

/* ---- Events to the guest ---- */

static bool rings_usable(VirtioInput *s)
{
    return dm_virtio_ready(&s->virtio) && !s->virtio.recovering &&
           !s->client_gone && s->virtio.vq[QUEUE_EVENT].enabled;
}

/* Queued events into the guest's eventq buffers, while it has some. */
static void events_flush(VirtioInput *s)
{
    DmVirtq *q = &s->virtio.vq[QUEUE_EVENT];
    unsigned done = 0;
    InputEvent ev;
    char why[128];

    while (s->link && rings_usable(s) && input_link_peek(s->link, &ev)) {
        struct { uint16_t type, code; uint32_t value; } w = {
            htole16(ev.type), htole16(ev.code), htole32(ev.value),
        };
        int ret = dm_virtq_pop(q, &s->elem, why, sizeof(why));

        if (ret < 0) {
            dm_virtio_broken(&s->virtio, why);
            break;
        }
        if (ret == 0) {
            break;              /* no buffer: the events wait */
        }
        if (s->elem.nout || dm_virtq_in_len(&s->elem) < sizeof(w)) {
            dm_virtio_broken(&s->virtio, "an eventq buffer that is "
                             "readable or shorter than an event");
            break;
        }
        if (dm_virtq_write(s->dev, &s->elem, 0, &w, sizeof(w)) !=
            sizeof(w) || dm_virtq_push(q, &s->elem, sizeof(w)) < 0) {
            dm_virtio_broken(&s->virtio, "an eventq buffer outside guest "
                             "memory");
            break;
        }
        input_link_pop(s->link);
        done++;
    }
    if (done) {
        dm_virtio_notify(&s->virtio, QUEUE_EVENT);
    }
}

static void link_ready(void *opaque)
{
    events_flush(opaque);
}

/* Is @ev something this device advertised, with a value it takes? */
static InputCheck link_check(void *opaque, const InputEvent *ev)
{
    VirtioInput *s = opaque;
    const InputKind *k = s->kind;

    if (ev->type > EV_MAX || !k->from_link[ev->type] ||
        !test_bit8(k->bits[ev->type], ev->code)) {
        return INPUT_UNKNOWN;
    }
    switch (ev->type) {
    case EV_KEY:
        /* Released, pressed, or repeated. */
        return ev->value <= 2 ? INPUT_OK : INPUT_RANGE;
    case EV_ABS:
        return ev->value <= TABLET_MAX ? INPUT_OK : INPUT_RANGE;
    default:
        return INPUT_OK;        /* a wheel's steps: any signed count */
    }
}

/* ---- The status queue: the driver's LEDs ---- */

static void status_process(VirtioInput *s)
{
    DmVirtq *q = &s->virtio.vq[QUEUE_STATUS];
    struct { uint16_t type, code; uint32_t value; } r;
    unsigned done = 0;
    char why[128];
    int ret;

    while ((ret = dm_virtq_pop(q, &s->elem, why, sizeof(why))) > 0) {
        if (s->elem.nsegs != s->elem.nout ||
            dm_virtq_out_len(&s->elem) != sizeof(r)) {
            dm_virtio_broken(&s->virtio, "a statusq buffer that is not "
                             "one readable event");
            return;
        }
        if (dm_virtq_read(s->dev, &s->elem, 0, &r, sizeof(r)) !=
            sizeof(r) || dm_virtq_push(q, &s->elem, 0) < 0) {
            dm_virtio_broken(&s->virtio, "a statusq buffer outside guest "
                             "memory");
            return;
        }
        s->status_events++;
        done++;
        if (le16toh(r.type) == EV_LED && le16toh(r.code) < 32) {
            uint32_t bit = 1u << le16toh(r.code);
            uint32_t leds = le32toh(r.value) ? s->leds | bit : s->leds & ~bit;

            if (leds != s->leds) {
                dm_info("%s: LEDs now 0x%x (num %d, caps %d, scroll %d)",
                        s->kind->model, leds, !!(leds & 1), !!(leds & 2),
                        !!(leds & 4));
                s->leds = leds;
                /* Rare (a lock key), and a restarted model keeps it. */
                dm_device_state_changed(s->dev);
            }
        }
    }
    if (ret < 0) {
        dm_virtio_broken(&s->virtio, why);
        return;
    }
    if (done) {
        dm_virtio_notify(&s->virtio, QUEUE_STATUS);
    }
}

/* ---- Transport callbacks ---- */

static void input_queue_notify(void *opaque, unsigned q)
{
    VirtioInput *s = opaque;

    if (q == QUEUE_EVENT) {
        events_flush(s);
    } else if (q == QUEUE_STATUS) {
        status_process(s);
    }
}

static void input_config_read(void *opaque, uint32_t offset, void *buf,
                              unsigned len)
{
    VirtioInput *s = opaque;

    memcpy(buf, (uint8_t *)&s->config + offset, len);
}

/* Only select and subsel are the driver's to write; the rest is ours. */
static void input_config_write(void *opaque, uint32_t offset,
                               const void *buf, unsigned len)
{
    VirtioInput *s = opaque;
    const uint8_t *b = buf;

    for (unsigned i = 0; i < len; i++) {
        if (offset + i == 0) {
            s->config.select = b[i];
        } else if (offset + i == 1) {
            s->config.subsel = b[i];
        }
    }
    config_answer(s);
}

static void input_virtio_reset(void *opaque)
{
    VirtioInput *s = opaque;

    /* A guest starting again wants no keys from before. */
    if (s->link) {
        input_link_flush(s->link);
    }
    s->leds = 0;
    s->config.select = s->config.subsel = 0;
    config_answer(s);
}

static const DmVirtioOps input_virtio_ops = {
    .config_read = input_config_read,
    .config_write = input_config_write,
    .queue_notify = input_queue_notify,
    .reset = input_virtio_reset,
};

/* ---- Model ---- */

static int check_input(const char *val, char *err, size_t errlen)
{
    VupAddress a;

    if (vup_address_parse(val, &a, err, errlen) < 0) {
        return -EINVAL;
    }
    if (a.kind != VUP_ADDRESS_UNIX) {
        snprintf(err, errlen, "input '%s' is not unix:PATH", val);
        return -EINVAL;
    }
    return 0;
}

static int input_realize_kind(DmDevice *dev, const InputKind *kind)
{
    VirtioInput *s = dm_device_state(dev);
    VupAddress a;
    int ret;

    kinds_init();
    s->dev = dev;
    s->kind = kind;
    config_answer(s);
    if (s->input) {
        if (vup_address_parse(s->input, &a, NULL, 0) < 0) {
            return -EINVAL;     /* checked already: not reached */
        }
        s->link = input_link_open(dm_device_loop(dev), a.path, s->queue,
                                  link_check, link_ready, s);
        if (!s->link) {
            return -EIO;
        }
    }
    ret = dm_virtio_pci_init(&s->virtio, dev, VIRTIO_ID_INPUT,
                             PCI_CLASS_INPUT_OTHER, 0, NUM_QUEUES,
                             QUEUE_SIZE, sizeof(s->config),
                             &input_virtio_ops, s);
    if (ret < 0) {
        input_link_close(s->link);
        s->link = NULL;
    }
    return ret;
}

static int kbd_realize(DmDevice *dev)
{
    return input_realize_kind(dev, &kbd_kind);
}

static int tablet_realize(DmDevice *dev)
{
    return input_realize_kind(dev, &tablet_kind);
}

static void input_reset(DmDevice *dev)
{
    VirtioInput *s = dm_device_state(dev);

    dm_virtio_reset(&s->virtio);
}

/*
 * Crash survival: the transport's set-up and the LEDs.  Events queued
 * are lost with the process (a viewer's keys are worth nothing late);
 * an eventq buffer is popped and pushed in one go, so none is in flight.
 */
static void input_save(DmDevice *dev, DmStateOut *out)
{
    VirtioInput *s = dm_device_state(dev);

    dm_virtio_save(&s->virtio, out);
    dm_state_put_u64(out, s->leds);
}

static void input_load(DmDevice *dev, DmStateIn *in, uint32_t version)
{
    VirtioInput *s = dm_device_state(dev);
    uint64_t leds;

    dm_virtio_load(&s->virtio, in);
    leds = dm_state_get_u64(in);
    if (!dm_state_ok(in) || leds > UINT32_MAX) {
        dm_state_fail(in);
        return;
    }
    s->leds = leds;
}

static void input_dma_unmapped(DmDevice *dev, uint64_t iova, uint64_t size)
{
    VirtioInput *s = dm_device_state(dev);

    if (iova == 0 && size == UINT64_MAX) {
        s->client_gone = true;
    }
}

/* The client is back: the transport catches up, then what waited goes. */
static void input_irqs_changed(DmDevice *dev)
{
    VirtioInput *s = dm_device_state(dev);

    s->client_gone = false;
    dm_virtio_irqs_changed(&s->virtio);
    events_flush(s);
}

static void input_dump(DmDevice *dev)
{
    VirtioInput *s = dm_device_state(dev);

    dm_info("%s: LEDs 0x%x after %llu status events%s", s->kind->model,
            s->leds, (unsigned long long)s->status_events,
            s->client_gone ? ", client away" : "");
    if (s->link) {
        input_link_dump(s->link, s->kind->model);
    } else {
        dm_info("%s: no input link (input= not given)", s->kind->model);
    }
    dm_virtio_dump(&s->virtio);
}

static void input_unrealize(DmDevice *dev)
{
    VirtioInput *s = dm_device_state(dev);

    if (s->link) {
        input_link_dump(s->link, s->kind->model);
        input_link_close(s->link);
        s->link = NULL;
    }
    dm_virtio_pci_cleanup(&s->virtio);
}

static const DmProp input_props[] = {
    DM_PROP_STRING_CHECKED("input", VirtioInput, input, NULL, check_input,
                           "unix:PATH: the input link's socket, where one "
                           "client (the display's VNC server, a test) "
                           "writes events (docs/input-link.md)"),
    DM_PROP_STRING("serial", VirtioInput, serial, NULL,
                   "the device's serial string (ID_SERIAL)"),
    DM_PROP_UINT64("queue", VirtioInput, queue, "256", 16, 65536,
                   "events that wait for the guest's buffers; beyond, the "
                   "oldest whole batches are dropped and counted"),
    DM_PROP_END,
};

static const DmModel dm_model_virtio_keyboard = {
    .name = "virtio-keyboard",
    .description = "virtio 1.x keyboard (virtio-input) fed by the input "
                   "link (input=unix:PATH)",
    .bus = DM_BUS_PCI,
    .state_size = sizeof(VirtioInput),
    .props = input_props,
    .realize = kbd_realize,
    .reset = input_reset,
    .dma_unmapped = input_dma_unmapped,
    .irqs_changed = input_irqs_changed,
    .dump = input_dump,
    .state_version = 1,
    .save = input_save,
    .load = input_load,
    .unrealize = input_unrealize,
};
DM_MODEL_REGISTER(dm_model_virtio_keyboard)

static const DmModel dm_model_virtio_tablet = {
    .name = "virtio-tablet",
    .description = "virtio 1.x tablet (virtio-input: absolute pointer, "
                   "three buttons, wheel) fed by the input link "
                   "(input=unix:PATH)",
    .bus = DM_BUS_PCI,
    .state_size = sizeof(VirtioInput),
    .props = input_props,
    .realize = tablet_realize,
    .reset = input_reset,
    .dma_unmapped = input_dma_unmapped,
    .irqs_changed = input_irqs_changed,
    .dump = input_dump,
    .state_version = 1,
    .save = input_save,
    .load = input_load,
    .unrealize = input_unrealize,
};
DM_MODEL_REGISTER(dm_model_virtio_tablet)
