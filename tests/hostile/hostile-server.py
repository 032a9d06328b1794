#!/usr/bin/python3
"""A scripted hostile vfio-user server, for testing dm-proxy-pci.

It speaks enough of vfio-user (docs/protocol.md, libvup's proto.h) for
QEMU's dm-proxy-pci to realize against it: VERSION, DEVICE_GET_INFO,
GET_REGION_INFO, GET_IRQ_INFO, SET_IRQS, REGION_READ/WRITE, DMA_MAP/UNMAP,
DEVICE_RESET; and it sends DMA_READ/DMA_WRITE requests of its own.  A
scenario makes it misbehave in one way:

  good                  a well-formed device (the control case)
  msi-at-fc             a 24-byte MSI capability at 0xfc
  msix-past-end         an MSI-X capability at 0xf8 (12 bytes: past 0xff)
  msix-table-past-bar   an MSI-X table that ends past its 4 KiB BAR
  cap-loop              a capability list that loops (0x40 -> 0x50 -> 0x40)
  cap-in-header         a capability pointer into the standard header
  bar-2e40-in-32bit     a 1 TiB BAR0 that the config space calls 32-bit
  bar-not-pow2          a BAR0 of 3 KiB
  huge-version          a 64 MiB VERSION reply
  pcie-cap-past-end     a PCI Express capability at 0xe0 (60 bytes: past 0xff)
  ext-cap-loop          an extended capability list that loops
                        (0x100 -> 0x110 -> 0x100)
  ext-cap-in-conventional  an extended capability pointing at 0x40
  dma-to-own-bar        once BAR0 has an address and memory decoding is
                        on, a DMA_WRITE to BAR0 itself
  junk-replies          a read of BAR0 offset 4 is answered late: first
                        stray replies and DMA_READ requests for ~8 s
  trickle-reply         a read of BAR0 offset 8 is answered one byte every
                        250 ms (~9 s for the whole reply)
  bad-io-fds            GET_REGION_IO_FDS of BAR0 lists one good doorbell
                        (0x50, 4 bytes, an eventfd) among bad entries: past
                        the BAR, size 3, an fd index without an fd, a pipe,
                        an ioregionfd, an overlap, no fd over UNIX.  BAR0
                        offset 0x50 reads the eventfd's count (kicks), 0x54
                        the REGION_WRITEs that came to 0x50 instead
  bad-mmap              six 4 KiB BARs, each GET_REGION_INFO saying MMAP;
                        BAR0 without an fd, BAR1 an area not page-aligned,
                        BAR2 an area past the region, BAR3 a pipe, BAR4 a
                        memfd not sealed against shrinking, BAR5 a good
                        one (a sealed memfd of the BAR's size, 0x5a5a5a5a
                        at offset 0)
  bad-mmap-caps         the same six BARs: BAR0 a capability chain that
                        loops, BAR1 a sparse capability with more areas
                        than the reply holds, BAR2 two areas that overlap,
                        BAR3 a cap_offset past the reply, BAR4 two fds,
                        BAR5 the good one
  bad-mmap-fds          the same six BARs: BAR0 a memfd smaller than the
                        BAR, BAR1 a sparse capability with 3 areas and
                        room for 1, BAR2 one with 1000 areas, BAR3 a
                        memfd sealed against writes (mmap fails), BAR4 a
                        region offset not page-aligned, BAR5 the good one
  mmap-reshape          BAR1 (8 KiB) mappable whole on the first
                        connection; a write to BAR0 0x40 drops it, and the
                        next connections offer BAR1's second page alone
                        (the fork keeps it trapped: the guest's memory map
                        is made)
                        (in all, a read of any BAR at 0 by message gives
                        0xc0ffee00, and BAR0 offset 8 by message reads the
                        good memfd's word at 8: what the model sees)

A well-formed device that misbehaves at a read of BAR0 offset 0x10 (the
trigger; every other access is answered well, on every connection), for
tests/hostile/proxy-faults.py:

  short-reply           the reply's header says 16 bytes of payload: the
                        access's offset, region and count, no data
  wrong-id              the reply carries another message id
  huge-count            the reply says it holds 0xffffffff bytes (it
                        holds 4)
  huge-size             a header announcing a 1 GiB message, 4 KiB of it,
                        then nothing more
  unsolicited-replies   answered well, then 1000 replies to requests
                        QEMU never sent (ids and commands of none)
  dma-outside           before answering, DMA requests outside guest
                        memory (past the RAM, across its end, wrapping,
                        at the MSI window, 1 TiB), a huge count, a write
                        whose data is short, and one good read of RAM;
                        the read then gives the refusals counted in bits
                        0-7 and the good read's success in bit 8
  irq-flood             before answering, 20000 DM_IRQ messages (good and
                        out-of-range vectors); after answering, as many
  close-mid-reply       half the reply, then the connection closed
  never-answer          no reply at all, the connection kept open

The pcie-* and ext-* scenarios are PCI Express devices: 4096 bytes of
config space, a version 2 endpoint's PCI Express capability; the proxy
reads and checks them on a PCI Express bus (q35).

BAR0 (4 KiB) reads back 0xc0ffee00 at offset 0, except under
dma-to-own-bar, where offset 0 tells what became of the DMA: 0 not sent
or no answer yet, 1 refused (an error reply), 2 done.

Usage: hostile-server.py --socket PATH --scenario NAME
Python 3 standard library only.  Serves one client at a time, forever
(QEMU reconnects after a fault); stops on SIGTERM or when its parent dies.
"""
import argparse
import array
import fcntl
import json
import mmap
import os
import signal
import socket
import struct
import sys
import time

HDR = struct.Struct('<HHIII')   # msg_id, command, msg_size, flags, error_no
REPLY, NO_REPLY, ERROR = 0x1, 0x10, 0x20

VERSION, DMA_MAP, DMA_UNMAP, GET_INFO, GET_REGION_INFO = 1, 2, 3, 4, 5
GET_IRQ_INFO, SET_IRQS, REGION_READ, REGION_WRITE = 7, 8, 9, 10
DMA_READ, DMA_WRITE, DEVICE_RESET = 11, 12, 13
GET_REGION_IO_FDS = 6

CONFIG_REGION = 7
BAR0_SIZE = 4096
GOOD_VALUE = 0xc0ffee00

SCENARIOS = ('good', 'msi-at-fc', 'msix-past-end', 'msix-table-past-bar',
             'cap-loop', 'cap-in-header', 'bar-2e40-in-32bit',
             'bar-not-pow2', 'huge-version', 'dma-to-own-bar',
             'junk-replies', 'trickle-reply', 'pcie-cap-past-end',
             'ext-cap-loop', 'ext-cap-in-conventional', 'bad-io-fds',
             'bad-mmap', 'bad-mmap-caps', 'bad-mmap-fds', 'mmap-reshape',
             'short-reply', 'wrong-id', 'huge-count', 'huge-size',
             'unsolicited-replies', 'dma-outside', 'irq-flood',
             'close-mid-reply', 'never-answer')
TRIGGER = 0x10                  # the BAR0 offset the faults below answer
DM_IRQ = 0x7f01                 # libvup's dm-ext.h: an interrupt message
MMAP_SCENARIOS = ('bad-mmap', 'bad-mmap-caps', 'bad-mmap-fds',
                  'mmap-reshape')
F_ADD_SEALS, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 1033, 0x2, 0x4, 0x8
PCIE_SCENARIOS = ('pcie-cap-past-end', 'ext-cap-loop',
                  'ext-cap-in-conventional')


class Gone(Exception):
    """The client closed the connection."""


def ext_header(cap_id, version, nxt):
    return struct.pack('<I', cap_id | version << 16 | nxt << 20)


def config_space(scenario):
    c = bytearray(4096 if scenario in PCIE_SCENARIOS else 256)
    struct.pack_into('<HH', c, 0, 0x1b36, 0x10ff)   # vendor, device
    struct.pack_into('<H', c, 0x06, 0x0010)         # status: cap list
    c[0x08] = 0x01                                  # revision
    c[0x0b] = 0xff                                  # class: other
    # BAR0: 32-bit memory (0), as every scenario says.
    caps = {
        # A 64-bit MSI with per-vector masks is 24 bytes: 0xfc + 24 > 256.
        'msi-at-fc': [(0xfc, 0x05, 0, struct.pack('<H', 0x0180))],
        'msix-past-end': [(0xf8, 0x11, 0, struct.pack('<HII', 0, 0, 0x800))],
        'msix-table-past-bar':
            [(0x40, 0x11, 0, struct.pack('<HII', 0, 0xff8, 0x800))],
        'cap-loop': [(0x40, 0x09, 0x50, b'\x04'),
                     (0x50, 0x09, 0x40, b'\x04')],
        'cap-in-header': [(0x40, 0x09, 0x20, b'\x04')],
        # Version 2, endpoint: 0x3c bytes, 0xe0 + 0x3c > 256.
        'pcie-cap-past-end': [(0xe0, 0x10, 0, struct.pack('<H', 0x0002))],
    }.get(scenario, [(0x40, 0x05, 0, struct.pack('<H', 0x0080))])
    if scenario in ('ext-cap-loop', 'ext-cap-in-conventional'):
        # MSI at 0x40, then a well-formed PCI Express capability at 0x50.
        caps[0] = (0x40, 0x05, 0x50, struct.pack('<H', 0x0080))
        caps.append((0x50, 0x10, 0, struct.pack('<H', 0x0002)))
    # The extended list: a Device Serial Number at 0x100, then...
    if scenario == 'ext-cap-loop':
        c[0x100:0x104] = ext_header(0x0003, 1, 0x110)
        c[0x110:0x114] = ext_header(0x000b, 1, 0x100)   # ... back: a loop
    elif scenario == 'ext-cap-in-conventional':
        c[0x100:0x104] = ext_header(0x0003, 1, 0x040)   # ... below 0x100
    c[0x34] = caps[0][0]
    for pos, cap_id, nxt, body in caps:
        c[pos] = cap_id
        c[pos + 1] = nxt
        end = min(pos + 2 + len(body), 256)
        c[pos + 2:end] = body[:end - pos - 2]
    return c


class Session:
    sessions = 0                # connections served, for mmap-reshape

    def __init__(self, conn, scenario):
        Session.sessions += 1
        self.conn = conn
        self.scenario = scenario
        self.config = config_space(scenario)
        self.next_id = 0x8000
        self.dma_state = 0          # 0 none yet, 1 refused, 2 done
        self.dma_id = None
        self.kick_fd = None         # bad-io-fds: the good doorbell's
        self.kicks = 0              # what it counted
        self.kick_writes = 0        # REGION_WRITEs to its address
        self.good_mem = None        # bad-mmap*: BAR5's memory
        if scenario in MMAP_SCENARIOS:
            size = 2 * BAR0_SIZE if scenario == 'mmap-reshape' else BAR0_SIZE
            self.good_fd = self.memfd(size, sealed=True)
            self.good_mem = mmap.mmap(self.good_fd, size)
            self.good_mem[0:4] = struct.pack('<I', 0x5a5a5a5a)

    # ---- wire ----

    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            data, anc, _, _ = self.conn.recvmsg(
                n - len(buf), socket.CMSG_SPACE(16 * 4))
            for level, kind, fds in anc:
                # Every descriptor QEMU passes (memfd, eventfds) is closed.
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    a = array.array('i')
                    a.frombytes(fds[:len(fds) - len(fds) % a.itemsize])
                    for fd in a:
                        os.close(fd)
            if not data:
                raise Gone()
            buf += data
        return bytes(buf)

    def recv(self):
        msg_id, cmd, size, flags, err = HDR.unpack(self.recv_exact(HDR.size))
        payload = self.recv_exact(size - HDR.size) if size > HDR.size else b''
        return msg_id, cmd, flags, err, payload

    def send(self, msg_id, cmd, flags, payload=b'', err=0):
        try:
            self.conn.sendall(HDR.pack(msg_id, cmd, HDR.size + len(payload),
                                       flags, err) + payload)
        except OSError:
            raise Gone()

    def reply(self, msg_id, cmd, flags, payload=b''):
        if not flags & NO_REPLY:
            self.send(msg_id, cmd, REPLY, payload)

    def request(self, cmd, payload):
        self.next_id = (self.next_id + 1) & 0xffff
        self.send(self.next_id, cmd, 0, payload)
        return self.next_id

    # ---- commands ----

    def version(self, msg_id, flags):
        caps = json.dumps({'capabilities': {
            'max_msg_fds': 16, 'max_data_xfer_size': 1048576}})
        body = caps.encode()
        if self.scenario == 'huge-version':
            # Still valid: JSON, blanks up to 64 MiB, the terminator.  The
            # header goes first: building 64 MiB in Python takes long
            # enough on a busy machine to look like no reply at all.
            size = 64 * 1024 * 1024
            blanks = size - 4 - len(body) - 1
            try:
                self.conn.sendall(HDR.pack(msg_id, VERSION, HDR.size + size,
                                           REPLY, 0) +
                                  struct.pack('<HH', 0, 0) + body)
                chunk = b' ' * (1 << 20)
                while blanks > 0:
                    self.conn.sendall(chunk[:blanks])
                    blanks -= len(chunk)
                self.conn.sendall(b'\0')
            except OSError:
                raise Gone()
            return
        self.reply(msg_id, VERSION, flags,
                   struct.pack('<HH', 0, 0) + body + b'\0')

    def region_size(self, index):
        if index == CONFIG_REGION:
            return len(self.config)
        if self.scenario == 'mmap-reshape':
            return {0: BAR0_SIZE, 1: 2 * BAR0_SIZE}.get(index, 0)
        if self.scenario in MMAP_SCENARIOS and index < 6:
            return BAR0_SIZE
        if index != 0:
            return 0
        return {'bar-2e40-in-32bit': 1 << 40,
                'bar-not-pow2': 3072}.get(self.scenario, BAR0_SIZE)

    def region_read(self, msg_id, flags, payload):
        offset, region, count = struct.unpack_from('<QII', payload)
        if region == CONFIG_REGION:
            data = bytes(self.config[offset:offset + count])
            data += b'\xff' * (count - len(data))
        elif region == 0 and offset == 4 and self.scenario == 'junk-replies':
            self.junk(msg_id)
            data = struct.pack('<I', GOOD_VALUE)[:count]
        elif (region == 0 and offset == 8 and
              self.scenario == 'trickle-reply'):
            data = struct.pack('<I', GOOD_VALUE)[:count]
            self.trickle(msg_id, payload[:16] + data)
            return
        elif region == 0 and offset == TRIGGER and self.fault(msg_id, flags,
                                                              payload):
            return
        elif region == 0 and offset in (0x50, 0x54) and self.kick_fd:
            try:
                self.kicks += os.eventfd_read(self.kick_fd)
            except BlockingIOError:
                pass
            value = self.kicks if offset == 0x50 else self.kick_writes
            data = struct.pack('<Q', value)[:count]
        elif region == 0 and offset == 0:
            value = (self.dma_state if self.scenario == 'dma-to-own-bar'
                     else GOOD_VALUE)
            data = struct.pack('<Q', value)[:count]
        elif self.good_mem is not None and region < 6 and offset == 0:
            data = struct.pack('<Q', GOOD_VALUE)[:count]
        elif self.good_mem is not None and region == 0 and offset == 8:
            data = bytes(self.good_mem[8:8 + count])
        else:
            data = bytes(count)
        self.reply(msg_id, REGION_READ, flags, payload[:16] + data)

    def fault(self, msg_id, flags, payload):
        """The trigger's misbehaviour; False: answer it as usual."""
        sc = self.scenario
        good = payload[:16] + struct.pack('<I', GOOD_VALUE)
        if sc == 'short-reply':
            self.send(msg_id, REGION_READ, REPLY, payload[:16])
        elif sc == 'wrong-id':
            self.send(msg_id ^ 0x5a5a, REGION_READ, REPLY, good)
        elif sc == 'huge-count':
            self.send(msg_id, REGION_READ, REPLY,
                      payload[:12] + struct.pack('<I', 0xffffffff) + good[16:])
        elif sc == 'huge-size':
            try:
                self.conn.sendall(HDR.pack(msg_id, REGION_READ, 1 << 30,
                                           REPLY, 0) + bytes(4096))
            except OSError:
                raise Gone()
            self.drain()
        elif sc == 'unsolicited-replies':
            self.send(msg_id, REGION_READ, REPLY, good)
            for i in range(1000):
                self.send((msg_id + 0x4000 + i) & 0xffff,
                          (REGION_READ, REGION_WRITE, DMA_MAP, 0x7777)[i % 4],
                          REPLY | (ERROR if i % 3 == 0 else 0),
                          good if i % 2 else b'')
        elif sc == 'dma-outside':
            value = self.dma_outside()
            self.send(msg_id, REGION_READ, REPLY,
                      payload[:16] + struct.pack('<I', value))
        elif sc == 'irq-flood':
            self.irq_flood()
            self.send(msg_id, REGION_READ, REPLY, good)
            self.irq_flood()
        elif sc == 'close-mid-reply':
            msg = HDR.pack(msg_id, REGION_READ, HDR.size + len(good), REPLY,
                           0) + good
            try:
                self.conn.sendall(msg[:len(msg) // 2])
            except OSError:
                pass
            raise Gone()
        elif sc == 'never-answer':
            self.drain()
        else:
            return False
        return True

    def drain(self):
        """Answer nothing more; read until the client gives up on us."""
        while True:
            self.recv()

    def irq_flood(self):
        irqs = [(0, 0), (1, 0), (1, 63), (1, 64), (4, 0), (9, 99),
                (0xffffffff, 0xffffffff)]
        msgs = b''.join(HDR.pack(i & 0xffff, DM_IRQ, HDR.size + 8, NO_REPLY,
                                 0) + struct.pack('<II', *irqs[i % len(irqs)])
                        for i in range(20000))
        try:
            self.conn.sendall(msgs)
        except OSError:
            raise Gone()

    def dma_outside(self):
        """DMA requests QEMU must refuse, and one it must serve."""
        ram_end = 128 << 20                     # the test's -m 128M
        bad = [(DMA_READ, ram_end + (256 << 20), 4, None),   # past the RAM
               (DMA_READ, ram_end - 0x1000, 0x2000, None),   # across its end
               (DMA_READ, 0xfffffffffffff000, 0x2000, None), # wraps
               (DMA_WRITE, 0xfee00000, 4, b'\1\0\0\0'),      # MSI window
               (DMA_WRITE, 1 << 40, 4, b'\1\0\0\0'),         # 1 TiB
               (DMA_READ, 0x1000, 0x7fffffff, None),         # huge count
               (DMA_WRITE, 0x1000, 64, b'\1' * 8)]             # short data
        ids = {}
        for cmd, addr, count, data in bad:
            ids[self.request(cmd, struct.pack('<QQ', addr, count) +
                             (data or b''))] = 'bad'
        ids[self.request(DMA_READ, struct.pack('<QQ', 0x1000, 4))] = 'good'
        refused, good_ok = 0, 0
        while ids:
            msg_id, cmd, flags, err, _ = self.recv()
            if flags & 0xf != REPLY or msg_id not in ids:
                continue                # nothing else comes mid-call
            kind = ids.pop(msg_id)
            if kind == 'bad' and flags & ERROR:
                refused += 1
            elif kind == 'good' and not flags & ERROR:
                good_ok = 1
        return refused | good_ok << 8

    def trickle(self, msg_id, payload):
        """The reply, one byte at a time: each byte well inside timeout=."""
        msg = HDR.pack(msg_id, REGION_READ, HDR.size + len(payload), REPLY,
                       0) + payload
        try:
            for i in range(len(msg)):
                self.conn.sendall(msg[i:i + 1])
                time.sleep(0.25)
        except OSError:
            raise Gone()

    def junk(self, msg_id):
        """Keep QEMU busy with anything but the reply it waits for."""
        for i in range(40):
            # A reply to no request, then a request of our own.
            self.send((msg_id + 1000 + i) & 0xffff, REGION_READ, REPLY,
                      bytes(16) + b'\xee' * 4)
            self.request(DMA_READ, struct.pack('<QQ', 0, 4))
            time.sleep(0.2)

    def region_write(self, msg_id, flags, payload):
        offset, region, count = struct.unpack_from('<QII', payload)
        data = payload[16:16 + count]
        if region == 0 and offset == 0x50:
            self.kick_writes += 1
        if (region == 0 and offset == 0x40 and
                self.scenario == 'mmap-reshape'):
            raise Gone()                        # the model "crashes"
        if region == CONFIG_REGION and offset + len(data) <= len(self.config):
            self.config[offset:offset + len(data)] = data
        self.reply(msg_id, REGION_WRITE, flags, payload[:16])
        if region == CONFIG_REGION and self.scenario == 'dma-to-own-bar':
            self.maybe_dma_to_bar()

    def maybe_dma_to_bar(self):
        bar0 = struct.unpack_from('<I', self.config, 0x10)[0] & ~0xf
        cmd = struct.unpack_from('<H', self.config, 0x04)[0]
        if self.dma_id is None and bar0 and bar0 != 0xfffffff0 and cmd & 2:
            # Write into our own BAR0, at offset 8.
            self.dma_id = self.request(
                DMA_WRITE, struct.pack('<QQ', bar0 + 8, 4) + b'\x01\0\0\0')

    def io_fds(self, msg_id, flags, payload):
        index = struct.unpack_from('<I', payload, 8)[0]
        if self.scenario != 'bad-io-fds':
            # As a server without the command (upstream's: ENOSYS).
            self.send(msg_id, GET_REGION_IO_FDS, REPLY | ERROR, err=38)
            return
        if index != 0:
            self.send(msg_id, GET_REGION_IO_FDS, REPLY | ERROR, err=22)
            return
        if self.kick_fd is None:
            self.kick_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        rfd, wfd = os.pipe()
        none = 0xffffffff
        # offset, size, fd_index, type, flags
        entries = [(BAR0_SIZE, 4, 0, 0, 0),     # past the BAR
                   (0x10, 3, 0, 0, 0),          # size 3
                   (0x20, 4, 7, 0, 0),          # no such fd
                   (0x30, 4, 1, 0, 0),          # a pipe
                   (0x40, 4, 0, 1, 0),          # an ioregionfd
                   (0x50, 4, 0, 0, 0),          # the good one
                   (0x50, 4, 0, 0, 0),          # overlaps it
                   (0x60, 4, none, 0, 0),       # no fd, over UNIX
                   (0x70, 0, 0, 0, 1)]          # datamatch, any width
        body = struct.pack('<IIII', 16 + 40 * len(entries), 0, 0,
                           len(entries))
        for off, size, idx, kind, fl in entries:
            body += struct.pack('<QQIIIIQ', off, size, idx, kind, fl, 0, 0)
        msg = HDR.pack(msg_id, GET_REGION_IO_FDS, HDR.size + len(body),
                       REPLY, 0) + body
        try:
            socket.send_fds(self.conn, [msg], [self.kick_fd, wfd])
        except OSError:
            raise Gone()
        finally:
            os.close(rfd)
            os.close(wfd)

    @staticmethod
    def memfd(size, sealed, extra_seals=0):
        fd = os.memfd_create('hostile', os.MFD_CLOEXEC |
                             (os.MFD_ALLOW_SEALING if sealed else 0))
        os.ftruncate(fd, size)
        if sealed:
            fcntl.fcntl(fd, F_ADD_SEALS,
                        F_SEAL_SHRINK | F_SEAL_GROW | extra_seals)
        return fd

    def region_info(self, msg_id, flags, payload):
        index = struct.unpack_from('<I', payload, 8)[0]
        if flags & NO_REPLY:
            return
        size = self.region_size(index)
        info_flags = 0x3 if size else 0
        caps, fds, close, offset = b'', [], [], 0
        if self.scenario == 'mmap-reshape' and index != 1:
            pass                                # BAR0: registers
        elif self.scenario in MMAP_SCENARIOS and index < 6 and size:
            info_flags |= 0x4                   # MMAP
            caps, fds, close = self.mmap_reply(index)
            if self.scenario == 'bad-mmap-fds' and index == 4:
                offset = 0x10
        if caps:
            info_flags |= 0x8                   # CAPS
        body = struct.pack('<IIIIQQ', 32 + len(caps), info_flags, index,
                           32 if caps else 0, size, offset) + caps
        if caps and index == 3 and self.scenario == 'bad-mmap-caps':
            body = body[:12] + struct.pack('<I', 4000) + body[16:]
        msg = HDR.pack(msg_id, GET_REGION_INFO, HDR.size + len(body),
                       REPLY, 0) + body
        try:
            if fds:
                socket.send_fds(self.conn, [msg], fds)
            else:
                self.conn.sendall(msg)
        except OSError:
            raise Gone()
        finally:
            for fd in close:
                os.close(fd)

    @staticmethod
    def sparse(areas, nr=None, nxt=0):
        """A sparse-mmap capability at offset 32 of the reply."""
        cap = struct.pack('<HHIII', 1, 1, nxt,
                          len(areas) if nr is None else nr, 0)
        for off, size in areas:
            cap += struct.pack('<QQ', off, size)
        return cap

    def mmap_reply(self, index):
        """(capabilities, fds, fds to close) for BAR @index."""
        good = [self.good_fd]
        if self.scenario == 'mmap-reshape':
            if Session.sessions == 1:
                return b'', good, []
            return self.sparse([(BAR0_SIZE, BAR0_SIZE)]), good, []
        if index == 5:
            return b'', good, []
        if self.scenario == 'bad-mmap':
            if index == 0:
                return b'', [], []
            if index == 1:
                return self.sparse([(0x800, 0x800)]), good, []
            if index == 2:
                return self.sparse([(0, 2 * BAR0_SIZE)]), good, []
            if index == 3:
                rfd, wfd = os.pipe()
                return b'', [rfd], [rfd, wfd]
            fd = self.memfd(BAR0_SIZE, sealed=False)
            return b'', [fd], [fd]
        if self.scenario == 'bad-mmap-fds':
            if index == 0:
                fd = self.memfd(BAR0_SIZE // 2, sealed=True)
                return b'', [fd], [fd]
            if index == 1:
                return self.sparse([(0, BAR0_SIZE)], nr=3), good, []
            if index == 2:
                return self.sparse([(0, BAR0_SIZE)], nr=1000), good, []
            if index == 3:
                fd = self.memfd(BAR0_SIZE, sealed=True,
                                extra_seals=F_SEAL_WRITE)
                return b'', [fd], [fd]
            return b'', good, []
        if index == 0:
            return self.sparse([(0, BAR0_SIZE)], nxt=32), good, []
        if index == 1:
            return self.sparse([(0, BAR0_SIZE)], nr=1000), good, []
        if index == 2:
            return self.sparse([(0, BAR0_SIZE), (0, BAR0_SIZE)]), good, []
        if index == 3:
            return self.sparse([(0, BAR0_SIZE)]), good, []
        return b'', [self.good_fd, self.good_fd], []

    def client_reply(self, msg_id, flags, err):
        if msg_id == self.dma_id:
            self.dma_state = 1 if flags & ERROR else 2

    def serve(self):
        while True:
            msg_id, cmd, flags, err, payload = self.recv()
            if flags & 0xf == REPLY:
                self.client_reply(msg_id, flags, err)
            elif cmd == VERSION:
                self.version(msg_id, flags)
            elif cmd == GET_INFO:
                # flags: reset | PCI; 9 regions, 5 interrupt indexes
                self.reply(msg_id, cmd, flags,
                           struct.pack('<IIII', 16, 0x3, 9, 5))
            elif cmd == GET_REGION_INFO:
                self.region_info(msg_id, flags, payload)
            elif cmd == GET_IRQ_INFO:
                index = struct.unpack_from('<I', payload, 8)[0]
                self.reply(msg_id, cmd, flags, struct.pack(
                    '<IIII', 16, 0x1, index, 1 if index < 2 else 0))
            elif cmd == REGION_READ:
                self.region_read(msg_id, flags, payload)
            elif cmd == REGION_WRITE:
                self.region_write(msg_id, flags, payload)
            elif cmd == GET_REGION_IO_FDS:
                self.io_fds(msg_id, flags, payload)
            elif cmd in (DMA_MAP, DMA_UNMAP, SET_IRQS, DEVICE_RESET):
                self.reply(msg_id, cmd, flags)
            elif not flags & NO_REPLY:
                self.send(msg_id, cmd, REPLY | ERROR, err=38)   # ENOSYS


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--socket', required=True, help='UNIX socket to listen on')
    ap.add_argument('--scenario', required=True, choices=SCENARIOS)
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        import ctypes
        # PR_SET_PDEATHSIG: die with the test that started us.
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(args.socket)
    srv.listen(4)
    try:
        while True:
            conn, _ = srv.accept()
            try:
                Session(conn, args.scenario).serve()
            except (Gone, ConnectionError):
                pass
            finally:
                conn.close()
    finally:
        os.unlink(args.socket)


if __name__ == '__main__':
    main()
