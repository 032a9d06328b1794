/*
 * qemu-dm's extensions to vfio-user (docs/protocol.md), apart from the
 * spec's messages in vup/proto.h: capabilities offered in VERSION (each
 * is used only when both sides offer it), commands in 0x7f00..0x7fff
 * and a region capability.  A peer without them (libvfio-user, QEMU's
 * vfio-user-pci) simply takes the standard path.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef VUP_DM_EXT_H
#define VUP_DM_EXT_H

#include <stdint.h>

#include "vup/proto.h"

/* ---- Capabilities and commands, negotiated in VERSION ---- */

/*
 * Capability key: the identifiers of the architecture and an access token,
 * sent by the client ({"vm": ..., "hypervisor": ..., "client_platform":
 * ..., "device_model": ..., "server_platform": ..., "token": ...}).
 */
#define VUP_CAP_DM_IDS              "dm_ids"

/* Capability key: the peer sends / accepts VUP_CMD_DM_IRQ messages. */
#define VUP_CAP_DM_IRQ_MESSAGES     "dm_irq_messages"

/*
 * An interrupt as a message, server to client, always with NO_REPLY: for
 * transports that cannot pass eventfds (TCP).  Same meaning as a write to
 * the vector's eventfd.
 */
#define VUP_CMD_DM_IRQ              0x7f01

typedef struct VUP_PACKED VupDmIrq {
    uint32_t index;
    uint32_t sub;
} VupDmIrq;
VUP_CHECK_SIZE(VupDmIrq, 8);

/* SET_IRQS data type: signal these vectors with VUP_CMD_DM_IRQ. */
#define VUP_IRQ_SET_DATA_DM_MESSAGE (1u << 31)

/*
 * Capability key: standby sessions, for migration.  A client that offers
 * it may be accepted while another client is served: as a *standby* (the
 * server says so by offering it back), it may only ask for the device's
 * description (GET_INFO, GET_REGION_INFO, GET_IRQ_INFO, reads of the PCI
 * config region); anything else gets EBUSY.  The migration target of a
 * VM connects so, while the source still runs.
 */
#define VUP_CAP_DM_STANDBY          "dm_standby"

/*
 * Client to server, no payload: make this standby session the active one.
 * Answered at once: success once the active client has gone (its session
 * becomes this one, with the device's state), EBUSY while it is still
 * there (the client retries).  Success on an active session.
 */
#define VUP_CMD_DM_ACTIVATE         0x7f02

/*
 * Capability key: the VM clock.  A client that offers it tells the
 * server, with VUP_CMD_DM_VM_STATE, whenever its VM starts or stops
 * running and what its VM clock reads, so that the models' timers
 * follow the guest's time: stopped while it is paused, continued on the
 * migration target where the source left off.
 */
#define VUP_CAP_DM_VM_CLOCK         "dm_vm_clock"

/*
 * Client to server, usually with NO_REPLY: the VM now runs (or not) and
 * its clock reads vm_clock_ns (QEMU's QEMU_CLOCK_VIRTUAL).  Sent after
 * VERSION and at every change of run state.
 */
#define VUP_CMD_DM_VM_STATE         0x7f03

typedef struct VUP_PACKED VupDmVmState {
    uint32_t running;           /* 0 or 1 */
    uint32_t reserved;          /* 0 */
    uint64_t vm_clock_ns;
} VupDmVmState;
VUP_CHECK_SIZE(VupDmVmState, 16);

/*
 * Capability key: doorbells without descriptors.  Over a transport that
 * cannot pass fds (TCP), a server answers GET_REGION_IO_FDS of a client
 * that offered it with the region's doorbells (ioeventfd entries) whose
 * fd_index is VUP_IO_FD_INDEX_NONE: writes there are kicks, which the
 * client sends at once instead of gathering them with other posted
 * writes.  Without it such a server answers count 0.
 */
#define VUP_CAP_DM_DOORBELLS        "dm_doorbells"

/* fd_index of a GET_REGION_IO_FDS entry that comes without a descriptor. */
#define VUP_IO_FD_INDEX_NONE        0xffffffffu

/* ---- Region capability (GET_REGION_INFO's chain) ---- */

/*
 * Where a platform device's port range and interrupt line sit by default
 * on an ISA bus.
 */
#define VUP_REGION_INFO_CAP_DM_ISA 0xdd01

typedef struct VUP_PACKED VupRegionInfoCapDmIsa {
    VupInfoCapHeader header;
    uint32_t iobase;
    uint32_t irq;
} VupRegionInfoCapDmIsa;
VUP_CHECK_SIZE(VupRegionInfoCapDmIsa, 16);

#endif /* VUP_DM_EXT_H */
