#!/usr/bin/python3
# Write the seed corpus of each libFuzzer target (tests/fuzz/*/corpus):
# a few well-formed inputs each, from which the fuzzer mutates.  The
# files are committed; run this again after changing an input format.
#   tests/fuzz/make-corpus.py
# (db-migrate's seeds are database files: dm-orchestrator's fresh
# database, checkpointed, VACUUMed to 512-byte pages, and copies whose
# user_version says 0, 3 and 6, made with Python's sqlite3; not here.)
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# vfio-user (docs/protocol.md, subprojects/libvup/include/vup/proto.h)
VERSION, DMA_MAP, DMA_UNMAP, GET_INFO, GET_REGION_INFO = 1, 2, 3, 4, 5
GET_REGION_IO_FDS, GET_IRQ_INFO, SET_IRQS = 6, 7, 8
REGION_READ, REGION_WRITE, DMA_READ, DMA_WRITE, RESET = 9, 10, 11, 12, 13
WRITE_MULTI, DEVICE_FEATURE = 15, 16
DM_IRQ, DM_ACTIVATE, DM_VM_STATE, DM_VQ_FETCH, DM_VQ_IRQ = (
    0x7f01, 0x7f02, 0x7f03, 0x7f04, 0x7f05)
REPLY, NO_REPLY, ERROR = 1, 0x10, 0x20
CONFIG = 7                      # PCI config space's region index

GUEST = 0x100000                # fuzz-session.c's GUEST_BASE


class Stream:
    def __init__(self):
        self.out = b""
        self.id = 0

    def msg(self, cmd, payload=b"", flags=0, error=0):
        self.out += struct.pack("<HHIII", self.id, cmd, 16 + len(payload),
                                flags, error) + payload
        self.id += 1
        return self

    def version(self, caps=None):
        caps = caps or {"capabilities": {"max_msg_fds": 16,
                                         "dm_irq_messages": True}}
        return self.msg(VERSION, struct.pack("<HH", 0, 0) +
                        json.dumps(caps).encode() + b"\0")

    def read(self, region, off, count):
        return self.msg(REGION_READ, struct.pack("<QII", off, region, count))

    def write(self, region, off, val, count=4):
        return self.msg(REGION_WRITE, struct.pack("<QII", off, region, count)
                        + val.to_bytes(8, "little")[:count])


def put(target, name, data):
    d = os.path.join(HERE, target, "corpus")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def probe(s):
    """What a client asks first: the device, its regions and irqs."""
    s.msg(GET_INFO, struct.pack("<IIII", 16, 0, 0, 0))
    for r in range(9):
        s.msg(GET_REGION_INFO, struct.pack("<IIIIQQ", 32, 0, r, 0, 0, 0))
    for i in range(5):
        s.msg(GET_IRQ_INFO, struct.pack("<IIII", 16, 0, i, 0))
    for off in range(0, 0x40, 4):
        s.read(CONFIG, off, 4)
    s.msg(GET_REGION_IO_FDS, struct.pack("<IIII", 16, 0, 0, 0))
    return s


# ---- session targets: flags, guest memory, stream (fuzz-session.c) ----
F_UNIX, F_VERSION, F_MAP, F_VQ_FETCH = 1, 2, 4, 8


def session(target, name, stream, flags=F_UNIX | F_VERSION | F_MAP,
            memory=b""):
    put(target, name, bytes([flags]) + struct.pack("<H", len(memory)) +
        memory + stream)


for model in ["edu", "edu-msix", "uart16550", "mc146818", "virtio-blk",
              "virtio-tablet"]:
    t = "session-" + model
    # The client's own VERSION, then its questions.
    session(t, "version-probe", probe(Stream().version()).out, F_UNIX)
    session(t, "version-probe-tcp", probe(Stream().version()).out, 0)
    session(t, "probe", probe(Stream()).out)
    # Interrupts as messages, a reset, the VM's clock, bad commands.
    s = probe(Stream())
    s.msg(SET_IRQS, struct.pack("<IIIII", 20, 0x20 | 0x80000000, 0, 0, 1))
    s.msg(SET_IRQS, struct.pack("<IIIII", 20, 0x20 | 0x80000000, 2, 0, 1))
    s.msg(DM_VM_STATE, struct.pack("<IIQ", 1, 0, 123456789))
    s.msg(RESET)
    s.msg(0x7777, b"\0" * 8)
    s.msg(DMA_UNMAP, struct.pack("<IIQQ", 24, 0, GUEST, 0x40000))
    session(t, "irqs-reset", s.out)

# edu: identification, liveness, factorial, DMA in both directions.
s = Stream()
s.read(0, 0x00, 4).write(0, 0x04, 0x12345678).read(0, 0x04, 4)
s.write(0, 0x20, 0x80).write(0, 0x08, 10).read(0, 0x08, 4).read(0, 0x20, 4)
s.write(0, 0x60, 1).read(0, 0x24, 4).write(0, 0x64, 1)
s.write(0, 0x80, GUEST, 8).write(0, 0x88, 0x40000, 8)
s.write(0, 0x90, 0x100, 8).write(0, 0x98, 0x1 | 0x4, 8)
s.read(0, 0x98, 8)
s.write(0, 0x80, 0x40000, 8).write(0, 0x88, GUEST + 0x1000, 8)
s.write(0, 0x90, 0x100, 8).write(0, 0x98, 0x1 | 0x2 | 0x4, 8)
s.msg(WRITE_MULTI, struct.pack("<Q", 2) +
      struct.pack("<QII", 0x04, 0, 4) + (7).to_bytes(8, "little") +
      struct.pack("<QII", 0x60, 0, 4) + (2).to_bytes(8, "little"))
for t in ["session-edu", "session-edu-msix"]:
    session(t, "registers-dma", s.out, memory=bytes(range(256)) * 16)
    session(t, "registers-dma-tcp", s.out, flags=F_VERSION)

# uart16550: line control, divisor, a byte out, loopback, interrupts.
s = Stream()
for off, val in [(3, 0x80), (0, 1), (1, 0), (3, 0x03), (1, 0x0f), (4, 0x1b),
                 (0, 0x41), (2, 0xc7), (4, 0x0b), (0, 0x42)]:
    s.write(0, off, val, 1)
for off in range(8):
    s.read(0, off, 1)
session("session-uart16550", "registers", s.out)

# dm_applied: a client names itself (DM_APPLIED), posts writes, asks
# again, then another client takes the record.
APPLIED = 0x7f0c
regs = {"session-edu": (0x04, 4), "session-edu-msix": (0x04, 4),
        "session-uart16550": (3, 1), "session-mc146818": (1, 1)}
for t, (off, count) in regs.items():
    s = Stream().msg(APPLIED, struct.pack("<QIHH", 0x1122334455667788,
                                          0, 0, 0))
    s.msg(REGION_WRITE, struct.pack("<QII", off, 0, count) +
          (3).to_bytes(8, "little")[:count], flags=NO_REPLY)
    s.read(0, off, count)
    s.msg(APPLIED, struct.pack("<QIHH", 0x1122334455667788, 0, 0, 0))
    s.msg(APPLIED, struct.pack("<QIHH", 0x0badc0ffee000001, 0, 0, 0))
    s.msg(APPLIED, struct.pack("<QIHH", 0, 1, 2, 3))
    session(t, "applied", s.out)

# mc146818: the time set under SET, the periodic interrupt and the alarm
# on, the VM clock moved on (timers fire), the flags read and cleared,
# CMOS memory, a divider reset.
s = Stream().version({"capabilities": {"max_msg_fds": 16,
                                       "dm_irq_messages": True,
                                       "dm_vm_clock": True}})
s.msg(SET_IRQS, struct.pack("<IIIII", 20, 0x20 | 0x80000000, 0, 0, 1))
for reg, val in [(0x0b, 0x86), (0x00, 30), (0x02, 59), (0x04, 23),
                 (0x07, 31), (0x08, 12), (0x09, 99), (0x32, 20),
                 (0x01, 31), (0x03, 0xc0), (0x05, 0xc0), (0x0a, 0x26),
                 (0x0b, 0x72), (0x40, 0x5a)]:
    s.write(0, 0, reg, 1).write(0, 1, val, 1)
for ns in [0, 1000000, 500000000, 1500000000, 1400000000]:
    s.msg(DM_VM_STATE, struct.pack("<IIQ", 0, 0, ns))
    s.write(0, 0, 0x0c, 1).read(0, 1, 1)
s.write(0, 0, 0x0a, 1).write(0, 1, 0x76, 1).write(0, 1, 0x26, 1)
for reg in [0x00, 0x0a, 0x0b, 0x0c, 0x0d, 0x40, 0x7f, 0x80]:
    s.write(0, 0, reg, 1).read(0, 1, 1)
session("session-mc146818", "registers", s.out)

# virtio-blk: the driver's set-up (virtio 1.2 4.1.4.3) of queue 0, then a
# read and a write of sector 0 (dm-remote/virtio/virtio-pci.c's BAR4).
BAR, NOTIFY = 4, 0x3000
DESC, AVAIL, USED, HDR, DATA, STATUS = (0x0, 0x1000, 0x2000, 0x3000, 0x4000,
                                        0x5000)


def virtio_setup(s, features_hi=1, features_lo=0):
    s.write(BAR, 0x14, 0, 1).write(BAR, 0x14, 1, 1).write(BAR, 0x14, 3, 1)
    s.write(BAR, 0x00, 0).read(BAR, 0x04, 4).write(BAR, 0x00, 1)
    s.read(BAR, 0x04, 4)
    s.write(BAR, 0x08, 0).write(BAR, 0x0c, features_lo)
    s.write(BAR, 0x08, 1).write(BAR, 0x0c, features_hi)
    s.write(BAR, 0x14, 0xb, 1).read(BAR, 0x14, 1)
    s.write(BAR, 0x16, 0, 2).write(BAR, 0x18, 16, 2)
    s.write(BAR, 0x20, GUEST + DESC).write(BAR, 0x24, 0)
    s.write(BAR, 0x28, GUEST + AVAIL).write(BAR, 0x2c, 0)
    s.write(BAR, 0x30, GUEST + USED).write(BAR, 0x34, 0)
    s.write(BAR, 0x1c, 1, 2).write(BAR, 0x14, 0xf, 1)
    for off in range(0, 0x20, 4):
        s.read(BAR, 0x2000 + off, 4)
    return s


def desc(addr, length, flags, nxt):
    return struct.pack("<QIHH", GUEST + addr, length, flags, nxt)


NEXT, WRITE_F, INDIRECT = 1, 2, 4
mem = bytearray(0x5010)
# chain 0: read sector 0 (header, 512 bytes in, status); chain 3: write it.
mem[DESC:DESC + 16 * 6] = (desc(HDR, 16, NEXT, 1) +
                           desc(DATA, 512, NEXT | WRITE_F, 2) +
                           desc(STATUS, 1, WRITE_F, 0) +
                           desc(HDR + 16, 16, NEXT, 4) +
                           desc(DATA, 512, NEXT, 5) +
                           desc(STATUS + 1, 1, WRITE_F, 0))
mem[AVAIL:AVAIL + 8] = struct.pack("<HHHH", 0, 2, 0, 3)
mem[HDR:HDR + 32] = struct.pack("<IIQ", 0, 0, 0) + struct.pack("<IIQ", 1, 0, 0)
mem[DATA:DATA + 512] = bytes(range(256)) * 2
for feat, name in [(0, "io"), (1 << 28 | 1 << 29, "io-indirect-event")]:
    s = virtio_setup(Stream(), features_lo=feat)
    s.write(BAR, NOTIFY, 0, 2)
    s.read(BAR, 0x1000, 1)
    s.write(BAR, 0x14, 0, 1)                    # and a reset
    session("session-virtio-blk", name, s.out, memory=bytes(mem))
    session("session-virtio-blk", name + "-fetch", s.out,
            flags=F_VERSION | F_VQ_FETCH, memory=bytes(mem))

# virtio-tablet: every config question (select/subsel, then the answer's
# size and bytes), queue 1 (statusq) set up like queue 0, an LED event
# on it, and an eventq buffer offered; then a reset.
tmem = bytearray(0x5010)
tmem[DESC:DESC + 32] = desc(DATA, 8, WRITE_F, 0) + desc(STATUS, 8, 0, 0)
tmem[AVAIL:AVAIL + 6] = struct.pack("<HHH", 0, 1, 0)
tmem[AVAIL + 0x800:AVAIL + 0x806] = struct.pack("<HHH", 0, 1, 0)
tmem[STATUS:STATUS + 8] = struct.pack("<HHi", 0x11, 1, 1)
s = virtio_setup(Stream())
for sel, sub in [(1, 0), (2, 0), (3, 0), (0x10, 0), (0x11, 1), (0x11, 2),
                 (0x11, 3), (0x11, 0x1f), (0x11, 0xff), (0x12, 0), (0x12, 1),
                 (0x12, 2), (0, 0), (0x55, 7)]:
    s.write(BAR, 0x2000, sel, 1).write(BAR, 0x2001, sub, 1)
    s.read(BAR, 0x2002, 1).read(BAR, 0x2008, 4).read(BAR, 0x200c, 4)
s.write(BAR, 0x16, 1, 2).write(BAR, 0x18, 16, 2)
s.write(BAR, 0x20, GUEST + DESC + 16).write(BAR, 0x24, 0)
s.write(BAR, 0x28, GUEST + AVAIL + 0x800).write(BAR, 0x2c, 0)
s.write(BAR, 0x30, GUEST + USED + 0x800).write(BAR, 0x34, 0)
s.write(BAR, 0x1c, 1, 2)
s.write(BAR, NOTIFY + 4, 1, 2).write(BAR, NOTIFY, 0, 2)
s.read(BAR, 0x1000, 1)
s.write(BAR, 0x14, 0, 1)
session("session-virtio-tablet", "config-status", s.out,
        memory=bytes(tmem))
session("session-virtio-tablet", "config-status-fetch", s.out,
        flags=F_VERSION | F_VQ_FETCH, memory=bytes(tmem))

# ---- vq-walk: a request and guest memory (fuzz-vq-walk.c) ----
def vq_walk(name, flags, mem, size_log=4, last_avail=0, max_chains=8,
            max_segs=16, max_data=4096, limit=65536):
    head = struct.pack("<BBHHHHHII", flags, size_log, DESC, AVAIL,
                       last_avail, max_chains, max_segs, max_data, limit)
    put("vq-walk", name, head + struct.pack("<H", len(mem)) + bytes(mem))


# ---- virtq: set-up, guest memory, fetch replies (fuzz-virtq.c) ----


def virtq(name, flags, mem, size_log=4, fetch=b""):
    setup = struct.pack("<BBHHHH", flags, size_log, DESC, AVAIL, USED, 0)
    setup += b"\0" * (16 - len(setup))
    put("virtq", name, setup + struct.pack("<H", len(mem)) + bytes(mem) +
        fetch)


virtq("two-chains", 0, mem)
virtq("two-chains-event-idx", 1, mem)
virtq("two-chains-restart", 8 | 1, mem)
virtq("two-chains-no-kicks", 16, mem)
ind = bytearray(mem)
ind[DESC:DESC + 16] = desc(0x6000, 48, INDIRECT, 0)
ind += bytes(0x6030 - len(ind))
ind[0x6000:0x6030] = (desc(HDR, 16, NEXT, 1) + desc(DATA, 512, NEXT | WRITE_F, 2)
                      + desc(STATUS, 1, WRITE_F, 0))
virtq("indirect", 2, ind)
# A fetch reply: both chains, their segments, the write's bytes.
reply = struct.pack("<HHI", 2, 2, 0)
reply += struct.pack("<HHHHII", 0, 3, 1, 0, 16, 0)
reply += struct.pack("<QII", GUEST + HDR, 16, 0)
reply += struct.pack("<QII", GUEST + DATA, 512, 1)
reply += struct.pack("<QII", GUEST + STATUS, 1, 1)
reply += bytes(mem[HDR:HDR + 16])
reply += struct.pack("<HHHHII", 3, 3, 2, 0, 0, 0)
reply += struct.pack("<QII", GUEST + HDR + 16, 16, 0)
reply += struct.pack("<QII", GUEST + DATA, 512, 0)
reply += struct.pack("<QII", GUEST + STATUS + 1, 1, 1)
virtq("fetch", 4 | 1, mem, fetch=struct.pack("<H", len(reply)) + reply)
# The fork's side: the same rings walked for a model's DM_VQ_FETCH.
vq_walk("two-chains", 0, mem)
vq_walk("two-chains-one", 0, mem, max_chains=1)
vq_walk("two-chains-no-data", 0, mem, max_data=16)
vq_walk("two-chains-small-limit", 0, mem, limit=120)
vq_walk("two-chains-ro-page", 4, mem)
vq_walk("indirect", 1, ind)

# ---- vup-msg: reader, then the stream (fuzz-vup-msg.c) ----
s = probe(Stream().version())
s.write(0, 4, 1).msg(WRITE_MULTI, struct.pack("<Q", 1) +
                     struct.pack("<QII", 4, 0, 4) + bytes(8))
s.msg(DMA_MAP, struct.pack("<IIQQQ", 32, 3, 0, GUEST, 0x1000))
s.msg(DMA_READ, struct.pack("<QQ", GUEST, 8), flags=REPLY)
s.msg(DMA_WRITE, struct.pack("<QI", GUEST, 8), flags=REPLY)
s.msg(GET_REGION_INFO, struct.pack("<IIIIQQ", 64, 0, 4, 32, 0x4000, 0) +
      struct.pack("<HHI", 1, 1, 0) + struct.pack("<II", 1, 0) +
      struct.pack("<QQ", 0, 0x1000), flags=REPLY)
s.msg(GET_REGION_IO_FDS, struct.pack("<IIII", 56, 0, 4, 1) +
      struct.pack("<QQIIIIQ", 0x3000, 4, 0, 0, 0, 0, 0), flags=REPLY)
s.msg(DM_VQ_FETCH, reply, flags=REPLY)
s.msg(DM_VQ_IRQ, struct.pack("<IIQHHHH", 2, 1, GUEST, 16, 0, 1, 1),
      flags=NO_REPLY)
s.msg(SET_IRQS, struct.pack("<IIIII", 20, 0x20 | 0x80000000, 2, 0, 1))
s.msg(RESET, flags=REPLY | ERROR, error=22)
for mode in range(4):
    put("vup-msg", "stream-%d" % mode, bytes([mode + 4 * 7]) + s.out)

# ---- vup-caps: the JSON of a VERSION (fuzz-vup-caps.c) ----
caps = [
    {},
    {"capabilities": {}},
    {"capabilities": {"max_msg_fds": 16, "max_data_xfer_size": 1048576,
                      "pgsizes": 4096, "max_dma_maps": 65535,
                      "migration": {"pgsize": 4096,
                                    "max_bitmap_size": 1 << 20},
                      "twin_socket": {"supported": True, "fd_index": 0},
                      "write_multiple": True}},
    {"capabilities": {"dm_irq_messages": True, "dm_standby": True,
                      "dm_vm_clock": True, "dm_doorbells": True,
                      "dm_vq_fetch": True, "dm_vcpus": 4,
                      "dm_ids": {"vm": "vm1", "hypervisor": "h1",
                                 "client_platform": "c1",
                                 "device_model": "edu0",
                                 "server_platform": "s1",
                                 "token": "secret"}}},
]
for i, c in enumerate(caps):
    put("vup-caps", "caps-%d" % i, json.dumps(c).encode() + b"\0")

# ---- routes: the file (fuzz-routes.c) ----
put("routes", "routes", b"# routes\n\nedu0=unix:/run/dm/edu0.sock\n"
    b"  blk0=tcp:10.0.0.2:5000,vm=vm1  \nblk0=tcp:[::1]:5001,vm=vm2\n")
put("routes", "bad-line", b"edu0=unix:/a\nnot a route\n")

# ---- instance-body: POST /v1/instances (fuzz-instance-body.c) ----
bodies = [
    {"model": "edu", "props": {"dma_mask": "0xffffffff", "pcie": True}},
    {"model": "virtio-blk", "props": {"file": "disk.img", "serial": "a,b",
                                      "queues": 2, "readonly": False}},
    {"model": "uart16550", "props": {"iobase": "0x2f8", "irq": 3}},
    {"model": "edu-msix", "props": None, "id": "edu0", "console": True},
    {"model": "virtio-tablet", "props": {"input": "unix:/x", "queue": 16}},
]
for i, b in enumerate(bodies):
    put("instance-body", "body-%d" % i, json.dumps(b).encode())
put("instance-body", "nested", b'{"model": "edu", "props": {"x": [[[[1]]]]}}')

# ---- orch-api: the orchestrator's API (fuzz-orch-api.c) ----
# "> METHOD PATH" and its body; "< STATUS" and a launcher's answer, taken
# in order by whatever request calls a launcher.


def orch(name, *blocks):
    out = b""
    for b in blocks:
        if b[0] == ">":
            out += b"> %s %s\n" % (b[1].encode(), b[2].encode())
        else:
            out += b"< %d\n" % b[1]
        if len(b) > 3 or (b[0] == "<" and len(b) > 2):
            body = b[3] if b[0] == ">" else b[2]
            out += (body if isinstance(body, bytes)
                    else json.dumps(body).encode()) + b"\n"
    put("orch-api", name, out)


SERVER_HEALTH = {"platform": "s1", "role": "server", "model_tls": False,
                 "capacity": 8,
                 "models": [{"name": "edu", "bus": "pci", "props": []},
                            {"name": "uart16550", "bus": "isa",
                             "props": [{"name": "console",
                                        "type": "string"}]}]}
CLIENT_HEALTH = {"platform": "c1", "role": "client", "model_tls": False}
ADD_SERVER = (">", "POST", "/v1/platforms",
              {"name": "s1", "role": "server", "address": "unix:/s1.sock"})
ADD_CLIENT = (">", "POST", "/v1/platforms",
              {"name": "c1", "role": "client", "address": "tcp:c1:7000"})
VM = {"name": "vm1", "memory": "256M", "kernel": "/k", "append": "quiet",
      "args": ["-smp", "2"],
      "devices": [{"name": "edu0", "model": "edu"},
                  {"name": "uart0", "model": "uart16550", "server": "s1",
                   "restart": "on-failure"}]}
INSTANCE = {"id": "x", "address": "tcp:s1:5000", "state": "running",
            "console": "tcp:s1:6000"}
OK = {"return": {}}

orch("reads", (">", "GET", "/v1/platforms"), (">", "GET", "/v1/vms"),
     (">", "GET", "/v1/events"), (">", "GET", "/v1/openapi.json"),
     (">", "GET", "/v1/dms"), (">", "GET", "/v1/vms/nope"),
     (">", "GET", "/v1/platforms/nope"), (">", "GET", "/metrics"))
orch("platforms", ("<", 200, SERVER_HEALTH), ADD_SERVER,
     ("<", 200, CLIENT_HEALTH), ADD_CLIENT,
     (">", "GET", "/v1/platforms/s1"), (">", "DELETE", "/v1/platforms/c1"),
     (">", "GET", "/v1/platforms"))
orch("vm-create", ("<", 200, SERVER_HEALTH), ADD_SERVER,
     (">", "POST", "/v1/vms", VM), (">", "GET", "/v1/vms/vm1"),
     (">", "GET", "/v1/vms/vm1/console"), (">", "GET", "/v1/vms/vm1/events"),
     (">", "DELETE", "/v1/vms/vm1"))
orch("lifecycle", ("<", 200, SERVER_HEALTH), ADD_SERVER,
     ("<", 200, CLIENT_HEALTH), ADD_CLIENT,
     (">", "POST", "/v1/vms", VM),
     ("<", 201, INSTANCE), ("<", 201, dict(INSTANCE, id="y",
                                           address="tcp:s1:5001")),
     ("<", 201, {}), (">", "POST", "/v1/vms/vm1/start"),
     ("<", 200, OK), (">", "POST", "/v1/vms/vm1/suspend"),
     ("<", 200, OK), (">", "POST", "/v1/vms/vm1/resume"),
     ("<", 200, OK), (">", "POST", "/v1/vms/vm1/devices/edu0/link",
                      {"up": False}),
     ("<", 200, {"id": "x", "state": "running", "restarts": 0}),
     (">", "GET", "/v1/dms"),
     ("<", 200, OK), ("<", 200, {}), ("<", 200, {}),
     (">", "POST", "/v1/vms/vm1/stop"), (">", "GET", "/v1/vms/vm1"))
orch("start-fails", ("<", 200, SERVER_HEALTH), ADD_SERVER,
     ("<", 200, CLIENT_HEALTH), ADD_CLIENT,
     (">", "POST", "/v1/vms", VM), ("<", 201, INSTANCE),
     ("<", 500, {"error": "no"}), (">", "POST", "/v1/vms/vm1/start"),
     (">", "GET", "/v1/vms/vm1"))
orch("migrate-save", ("<", 200, SERVER_HEALTH), ADD_SERVER,
     ("<", 200, CLIENT_HEALTH), ADD_CLIENT,
     ("<", 200, dict(CLIENT_HEALTH, platform="c2")),
     (">", "POST", "/v1/platforms",
      {"name": "c2", "role": "client", "address": "unix:/c2.sock"}),
     (">", "POST", "/v1/vms", VM), ("<", 201, INSTANCE),
     ("<", 201, INSTANCE), ("<", 201, {}),
     (">", "POST", "/v1/vms/vm1/start"),
     ("<", 201, {}), ("<", 200, OK), ("<", 200, OK),
     ("<", 200, {"return": {"status": "completed"}}), ("<", 200, OK),
     ("<", 200, OK), (">", "POST", "/v1/vms/vm1/migrate", {"to": "c2"}),
     ("<", 200, OK), ("<", 200, OK),
     ("<", 200, {"return": {"status": "completed"}}), ("<", 200, {}),
     (">", "POST", "/v1/vms/vm1/save", {}),
     ("<", 201, {}), ("<", 200, OK), ("<", 200, OK),
     (">", "POST", "/v1/vms/vm1/restore", {}))
orch("bad", (">", "POST", "/v1/vms", b"{\"name\": [1, {\"a\": null}]"),
     (">", "PUT", "/v1/vms"), (">", "POST", "/v1/platforms", b"[]"),
     (">", "GET", "/v1/vms/a%2Fb"), (">", "GET", "/v1/../etc/passwd"),
     (">", "POST", "/v1/vms", {"name": "vm1", "memory": "12Q"}),
     (">", "GET", "/v1/events?vm=vm1&since=-1&limit=x"))

# ---- launcher-api: the launcher's API (fuzz-launcher-api.c) ----
# "S METHOD PATH" to the server role, "C METHOD PATH" to the client role,
# then the body; headers after the path, each after a tab.


def launcher(name, *reqs):
    out = b""
    for r in reqs:
        out += ("%s %s %s" % r[:3]).encode()
        for h in r[4:]:
            out += b"\t" + h.encode()
        out += b"\n"
        if len(r) > 3 and r[3] is not None:
            out += (r[3] if isinstance(r[3], bytes)
                    else json.dumps(r[3]).encode()) + b"\n"
    put("launcher-api", name, out)


BIND = {"vm": "vm-7", "hypervisor": "hv-1", "client_platform": "cl-1",
        "device_model": "dm-1", "server_platform": "srv-1"}
launcher("reads", ("S", "GET", "/v1/health"), ("C", "GET", "/v1/health"),
         ("S", "GET", "/v1/instances"), ("S", "GET", "/v1/routes"),
         ("S", "GET", "/v1/displays"), ("C", "GET", "/v1/vms"),
         ("S", "GET", "/metrics"), ("C", "GET", "/metrics"),
         ("S", "GET", "/v1/instances/dm-1"), ("C", "GET", "/v1/vms/vm1"),
         ("C", "GET", "/v1/vms/vm1/events"), ("S", "GET", "/v1/nope"))
launcher("instances",
         ("S", "POST", "/v1/instances",
          {"id": "dm-1", "model": "edu", "transport": "tcp", "bind": BIND,
           "token": "s3cret", "restart": "on-failure", "console": False}),
         ("S", "POST", "/v1/instances",
          {"id": "disk-1", "model": "virtio-blk", "restart": "on-failure",
           "props": {"file": "disk.img", "readonly": False,
                     "serial": "d1"}}),
         ("S", "POST", "/v1/instances",
          {"id": "net-1", "model": "virtio-net", "bridge": "br0"}),
         ("S", "POST", "/v1/instances",
          {"id": "gfx-1", "model": "bochs-display", "bind": BIND,
           "vnc": "unix"}),
         ("S", "DELETE", "/v1/instances/dm-1"),
         ("S", "POST", "/v1/instances/dm-1"))
launcher("routes",
         ("S", "POST", "/v1/routes",
          {"id": "r1", "device_model": "dm-1", "vm": "vm-7",
           "target": "tcp:10.0.0.3:40000"}),
         ("S", "DELETE", "/v1/routes/r1"), ("S", "PUT", "/v1/routes"))
launcher("vms",
         ("C", "POST", "/v1/vms",
          {"id": "vm1", "args": ["-machine", "q35", "-m", "256",
                                 "-object",
                                 "secret,id=s0,file=@STATE@/vm1.s0",
                                 "-remote-device",
                                 "bus=pci,server=tcp:192.0.2.2:40000,"
                                 "vm-id=vm1,token-secret=s0",
                                 "-serial", "stdio", "-incoming", "defer",
                                 "-device", "dm-proxy-pci,id=d0"],
           "files": {"s0": "s3cret"}}),
         ("C", "POST", "/v1/vms",
          {"id": "vm2", "args": ["-monitor", "stdio"]}),
         ("C", "POST", "/v1/vms/vm1/qmp", {"execute": "query-status"}),
         ("C", "POST", "/v1/vms/vm1/qmp",
          {"execute": "migrate", "arguments": {"uri": "exec:sh"}}),
         ("C", "DELETE", "/v1/vms/vm1"))
launcher("fence", ("S", "GET", "/v1/instances", None, "X-DM-Fence: 7"),
         ("S", "GET", "/v1/instances", None, "X-DM-Fence: 3"),
         ("C", "DELETE", "/v1/vms/vm1", None, "X-DM-Fence: x"))
launcher("bad", ("S", "POST", "/v1/instances", b"{\"id\": [[[["),
         ("S", "POST", "/v1/instances", {"id": "../x", "model": "edu"}),
         ("C", "POST", "/v1/vms", {"id": "vm1", "args": "-m"}),
         ("S", "GET", "/v1/instances/a%00b"), ("C", "GET", "/v1/vms//qmp"))
