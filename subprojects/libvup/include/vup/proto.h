/*
 * vfio-user wire protocol: every message, once.
 *
 * Follows docs/interop/vfio-user.rst of the pinned QEMU tree.  Command
 * numbers and field names are the spec's.  Structures here are exactly
 * what travels on the wire (fixed-width, packed, sizes checked below);
 * in-memory bookkeeping lives elsewhere.  Payload structs exclude the
 * 16-byte header, as the spec's offsets do.
 *
 * Byte order: the spec uses host order; this project's TCP transport
 * defines little-endian (docs/protocol.md).  Both sides run on x86 here.
 *
 * Our own extensions (dm_* capabilities, 0x7f0x commands) are not the
 * spec's: they live in vup/dm-ext.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef VUP_PROTO_H
#define VUP_PROTO_H

#include <stdint.h>

#define VUP_PACKED __attribute__((packed))
#define VUP_CHECK_SIZE(type, size) \
    _Static_assert(sizeof(type) == (size), #type " must be " #size " bytes")

/* ---- Commands (spec: "Commands") ---- */

typedef enum VupCommand {
    VUP_CMD_VERSION                  = 1,
    VUP_CMD_DMA_MAP                  = 2,
    VUP_CMD_DMA_UNMAP                = 3,
    VUP_CMD_DEVICE_GET_INFO          = 4,
    VUP_CMD_DEVICE_GET_REGION_INFO   = 5,
    VUP_CMD_DEVICE_GET_REGION_IO_FDS = 6,
    VUP_CMD_DEVICE_GET_IRQ_INFO      = 7,
    VUP_CMD_DEVICE_SET_IRQS          = 8,
    VUP_CMD_REGION_READ              = 9,
    VUP_CMD_REGION_WRITE             = 10,
    VUP_CMD_DMA_READ                 = 11,
    VUP_CMD_DMA_WRITE                = 12,
    VUP_CMD_DEVICE_RESET             = 13,
    /* 14 was VFIO_USER_DIRTY_PAGES, removed from the spec */
    VUP_CMD_REGION_WRITE_MULTI       = 15,
    VUP_CMD_DEVICE_FEATURE           = 16,
    VUP_CMD_MIG_DATA_READ            = 17,
    VUP_CMD_MIG_DATA_WRITE           = 18,
    VUP_CMD_MAX,
} VupCommand;

/* ---- Header (spec: "Header") ---- */

typedef struct VUP_PACKED VupHeader {
    uint16_t msg_id;
    uint16_t command;
    uint32_t msg_size;          /* whole message, header included */
    uint32_t flags;
    uint32_t error_no;          /* errno in an error reply */
} VupHeader;
VUP_CHECK_SIZE(VupHeader, 16);

#define VUP_FLAG_TYPE_MASK      0x0000000fu
#define VUP_FLAG_TYPE_COMMAND   0x0u
#define VUP_FLAG_TYPE_REPLY     0x1u
#define VUP_FLAG_NO_REPLY       (1u << 4)
#define VUP_FLAG_ERROR          (1u << 5)
#define VUP_FLAG_KNOWN_MASK     (VUP_FLAG_TYPE_MASK | VUP_FLAG_NO_REPLY | \
                                 VUP_FLAG_ERROR)

/* ---- VFIO_USER_VERSION ---- */

#define VUP_VERSION_MAJOR       0
#define VUP_VERSION_MINOR       0

typedef struct VUP_PACKED VupVersion {
    uint16_t major;
    uint16_t minor;
    /* followed by optional NUL-terminated JSON capabilities */
} VupVersion;
VUP_CHECK_SIZE(VupVersion, 4);

/* Capability names and the spec's defaults. */
#define VUP_CAP_CAPABILITIES        "capabilities"
#define VUP_CAP_MAX_MSG_FDS         "max_msg_fds"
#define VUP_CAP_MAX_DATA_XFER_SIZE  "max_data_xfer_size"
#define VUP_CAP_PGSIZES             "pgsizes"
#define VUP_CAP_MAX_DMA_MAPS        "max_dma_maps"
#define VUP_CAP_MIGRATION           "migration"
#define VUP_CAP_MIGRATION_PGSIZE    "pgsize"
#define VUP_CAP_MIGRATION_MAX_BITMAP "max_bitmap_size"
#define VUP_CAP_TWIN_SOCKET         "twin_socket"
#define VUP_CAP_TWIN_SUPPORTED      "supported"
#define VUP_CAP_TWIN_FD_INDEX       "fd_index"
#define VUP_CAP_WRITE_MULTIPLE      "write_multiple"

#define VUP_DEFAULT_MAX_MSG_FDS         1
#define VUP_DEFAULT_MAX_DATA_XFER_SIZE  (1024 * 1024)
#define VUP_DEFAULT_PGSIZES             4096
#define VUP_DEFAULT_MAX_DMA_MAPS        65535

/* ---- VFIO_USER_DMA_MAP / VFIO_USER_DMA_UNMAP ---- */

typedef struct VUP_PACKED VupDmaMap {
    uint32_t argsz;
    uint32_t flags;
    uint64_t offset;            /* offset into the passed fd */
    uint64_t address;
    uint64_t size;
} VupDmaMap;
VUP_CHECK_SIZE(VupDmaMap, 32);

#define VUP_DMA_MAP_FLAG_READ   (1u << 0)
#define VUP_DMA_MAP_FLAG_WRITE  (1u << 1)

typedef struct VUP_PACKED VupDmaUnmap {
    uint32_t argsz;
    uint32_t flags;
    uint64_t address;
    uint64_t size;
} VupDmaUnmap;
VUP_CHECK_SIZE(VupDmaUnmap, 24);

/* ---- VFIO_USER_DEVICE_GET_INFO ---- */

typedef struct VUP_PACKED VupDeviceInfo {
    uint32_t argsz;
    uint32_t flags;
    uint32_t num_regions;
    uint32_t num_irqs;
} VupDeviceInfo;
VUP_CHECK_SIZE(VupDeviceInfo, 16);

#define VUP_DEVICE_FLAG_RESET       (1u << 0)
#define VUP_DEVICE_FLAG_PCI         (1u << 1)
#define VUP_DEVICE_FLAG_PLATFORM    (1u << 2)   /* <linux/vfio.h> */

/* Region and IRQ indices of a PCI device, as in <linux/vfio.h>. */
enum {
    VUP_PCI_BAR0_REGION_INDEX   = 0,
    VUP_PCI_BAR5_REGION_INDEX   = 5,
    VUP_PCI_ROM_REGION_INDEX    = 6,
    VUP_PCI_CONFIG_REGION_INDEX = 7,
    VUP_PCI_VGA_REGION_INDEX    = 8,
    VUP_PCI_NUM_REGIONS         = 9,
};
enum {
    VUP_PCI_INTX_IRQ_INDEX  = 0,
    VUP_PCI_MSI_IRQ_INDEX   = 1,
    VUP_PCI_MSIX_IRQ_INDEX  = 2,
    VUP_PCI_ERR_IRQ_INDEX   = 3,
    VUP_PCI_REQ_IRQ_INDEX   = 4,
    VUP_PCI_NUM_IRQS        = 5,
};

/* ---- VFIO_USER_DEVICE_GET_REGION_INFO ---- */

typedef struct VUP_PACKED VupRegionInfo {
    uint32_t argsz;
    uint32_t flags;
    uint32_t index;
    uint32_t cap_offset;
    uint64_t size;
    uint64_t offset;
} VupRegionInfo;
VUP_CHECK_SIZE(VupRegionInfo, 32);

#define VUP_REGION_INFO_FLAG_READ   (1u << 0)
#define VUP_REGION_INFO_FLAG_WRITE  (1u << 1)
#define VUP_REGION_INFO_FLAG_MMAP   (1u << 2)
#define VUP_REGION_INFO_FLAG_CAPS   (1u << 3)

typedef struct VUP_PACKED VupInfoCapHeader {
    uint16_t id;
    uint16_t version;
    uint32_t next;              /* from the start of VupRegionInfo */
} VupInfoCapHeader;
VUP_CHECK_SIZE(VupInfoCapHeader, 8);

#define VUP_REGION_INFO_CAP_SPARSE_MMAP 1

typedef struct VUP_PACKED VupSparseMmapArea {
    uint64_t offset;
    uint64_t size;
} VupSparseMmapArea;
VUP_CHECK_SIZE(VupSparseMmapArea, 16);

typedef struct VUP_PACKED VupRegionInfoCapSparseMmap {
    VupInfoCapHeader header;
    uint32_t nr_areas;
    uint32_t reserved;
    /* followed by nr_areas VupSparseMmapArea */
} VupRegionInfoCapSparseMmap;
VUP_CHECK_SIZE(VupRegionInfoCapSparseMmap, 16);

/* ---- VFIO_USER_DEVICE_GET_REGION_IO_FDS ---- */

typedef struct VUP_PACKED VupRegionIoFds {
    uint32_t argsz;
    uint32_t flags;
    uint32_t index;
    uint32_t count;
    /* reply: followed by count VupSubRegionIoFd */
} VupRegionIoFds;
VUP_CHECK_SIZE(VupRegionIoFds, 16);

typedef struct VUP_PACKED VupSubRegionIoFd {
    uint64_t offset;
    uint64_t size;
    uint32_t fd_index;
    uint32_t type;
    uint32_t flags;
    uint32_t padding;
    uint64_t datamatch;         /* user_data for ioregionfd */
} VupSubRegionIoFd;
VUP_CHECK_SIZE(VupSubRegionIoFd, 40);

#define VUP_IO_FD_TYPE_IOEVENTFD    0
#define VUP_IO_FD_TYPE_IOREGIONFD   1

/* ---- VFIO_USER_DEVICE_GET_IRQ_INFO ---- */

typedef struct VUP_PACKED VupIrqInfo {
    uint32_t argsz;
    uint32_t flags;
    uint32_t index;
    uint32_t count;
} VupIrqInfo;
VUP_CHECK_SIZE(VupIrqInfo, 16);

#define VUP_IRQ_INFO_EVENTFD    (1u << 0)
#define VUP_IRQ_INFO_MASKABLE   (1u << 1)
#define VUP_IRQ_INFO_AUTOMASKED (1u << 2)
#define VUP_IRQ_INFO_NORESIZE   (1u << 3)

/* ---- VFIO_USER_DEVICE_SET_IRQS ---- */

typedef struct VUP_PACKED VupIrqSet {
    uint32_t argsz;
    uint32_t flags;
    uint32_t index;
    uint32_t start;
    uint32_t count;
    /* DATA_BOOL: followed by count bytes */
} VupIrqSet;
VUP_CHECK_SIZE(VupIrqSet, 20);

#define VUP_IRQ_SET_DATA_NONE       (1u << 0)
#define VUP_IRQ_SET_DATA_BOOL       (1u << 1)
#define VUP_IRQ_SET_DATA_EVENTFD    (1u << 2)
#define VUP_IRQ_SET_ACTION_MASK     (1u << 3)
#define VUP_IRQ_SET_ACTION_UNMASK   (1u << 4)
#define VUP_IRQ_SET_ACTION_TRIGGER  (1u << 5)
#define VUP_IRQ_SET_DATA_TYPE_MASK  (VUP_IRQ_SET_DATA_NONE | \
                                     VUP_IRQ_SET_DATA_BOOL | \
                                     VUP_IRQ_SET_DATA_EVENTFD)
#define VUP_IRQ_SET_ACTION_TYPE_MASK (VUP_IRQ_SET_ACTION_MASK | \
                                      VUP_IRQ_SET_ACTION_UNMASK | \
                                      VUP_IRQ_SET_ACTION_TRIGGER)

/* ---- VFIO_USER_REGION_READ / VFIO_USER_REGION_WRITE ---- */

typedef struct VUP_PACKED VupRegionAccess {
    uint64_t offset;
    uint32_t region;
    uint32_t count;
    /* READ reply and WRITE request: followed by count bytes */
} VupRegionAccess;
VUP_CHECK_SIZE(VupRegionAccess, 16);

/* ---- VFIO_USER_DMA_READ / VFIO_USER_DMA_WRITE ---- */

typedef struct VUP_PACKED VupDmaAccess {
    uint64_t address;
    uint64_t count;
    /* READ reply and WRITE request: followed by count bytes */
} VupDmaAccess;
VUP_CHECK_SIZE(VupDmaAccess, 16);

/* The spec's DMA_WRITE reply carries a 4-byte count. */
typedef struct VUP_PACKED VupDmaWriteReply {
    uint64_t address;
    uint32_t count;
} VupDmaWriteReply;
VUP_CHECK_SIZE(VupDmaWriteReply, 12);

/* ---- VFIO_USER_REGION_WRITE_MULTI ---- */

#define VUP_WRITE_MULTI_DATA    8
#define VUP_WRITE_MULTI_MAX     200     /* what QEMU's client sends at most */

typedef struct VUP_PACKED VupWriteMultiEntry {
    uint64_t offset;
    uint32_t region;
    uint32_t count;             /* at most VUP_WRITE_MULTI_DATA */
    uint8_t data[VUP_WRITE_MULTI_DATA];
} VupWriteMultiEntry;
VUP_CHECK_SIZE(VupWriteMultiEntry, 24);

typedef struct VUP_PACKED VupWriteMulti {
    uint64_t wr_cnt;
    /* request: followed by wr_cnt VupWriteMultiEntry */
} VupWriteMulti;
VUP_CHECK_SIZE(VupWriteMulti, 8);

/* ---- VFIO_USER_DEVICE_FEATURE ---- */

typedef struct VUP_PACKED VupDeviceFeature {
    uint32_t argsz;
    uint32_t flags;
    /* followed by feature data */
} VupDeviceFeature;
VUP_CHECK_SIZE(VupDeviceFeature, 8);

#define VUP_DEVICE_FEATURE_MASK     0x0000ffffu
#define VUP_DEVICE_FEATURE_GET      (1u << 16)
#define VUP_DEVICE_FEATURE_SET      (1u << 17)
#define VUP_DEVICE_FEATURE_PROBE    (1u << 18)

#define VUP_DEVICE_FEATURE_MIGRATION            1
#define VUP_DEVICE_FEATURE_MIG_DEVICE_STATE     2
#define VUP_DEVICE_FEATURE_DMA_LOGGING_START    6
#define VUP_DEVICE_FEATURE_DMA_LOGGING_STOP     7
#define VUP_DEVICE_FEATURE_DMA_LOGGING_REPORT   8

typedef struct VUP_PACKED VupFeatureMigration {
    uint64_t flags;
} VupFeatureMigration;
VUP_CHECK_SIZE(VupFeatureMigration, 8);

#define VUP_MIGRATION_STOP_COPY (1u << 0)
#define VUP_MIGRATION_P2P       (1u << 1)
#define VUP_MIGRATION_PRE_COPY  (1u << 2)

typedef struct VUP_PACKED VupFeatureMigState {
    uint32_t device_state;
    uint32_t data_fd;           /* unused in vfio-user */
} VupFeatureMigState;
VUP_CHECK_SIZE(VupFeatureMigState, 8);

typedef enum VupDeviceMigState {
    VUP_DEVICE_STATE_ERROR          = 0,
    VUP_DEVICE_STATE_STOP           = 1,
    VUP_DEVICE_STATE_RUNNING        = 2,
    VUP_DEVICE_STATE_STOP_COPY      = 3,
    VUP_DEVICE_STATE_RESUMING       = 4,
    VUP_DEVICE_STATE_RUNNING_P2P    = 5,
    VUP_DEVICE_STATE_PRE_COPY       = 6,
    VUP_DEVICE_STATE_PRE_COPY_P2P   = 7,
} VupDeviceMigState;

typedef struct VUP_PACKED VupDmaLoggingRange {
    uint64_t iova;
    uint64_t length;
} VupDmaLoggingRange;
VUP_CHECK_SIZE(VupDmaLoggingRange, 16);

typedef struct VUP_PACKED VupDmaLoggingControl {
    uint64_t page_size;
    uint32_t num_ranges;
    uint32_t reserved;
    /* followed by num_ranges VupDmaLoggingRange */
} VupDmaLoggingControl;
VUP_CHECK_SIZE(VupDmaLoggingControl, 16);

typedef struct VUP_PACKED VupDmaLoggingReport {
    uint64_t iova;
    uint64_t length;
    uint64_t page_size;
    /* reply: followed by the bitmap, u64 words */
} VupDmaLoggingReport;
VUP_CHECK_SIZE(VupDmaLoggingReport, 24);

/* ---- VFIO_USER_MIG_DATA_READ / VFIO_USER_MIG_DATA_WRITE ---- */

typedef struct VUP_PACKED VupMigData {
    uint32_t argsz;
    uint32_t size;
    /* READ reply and WRITE request: followed by size bytes */
} VupMigData;
VUP_CHECK_SIZE(VupMigData, 8);

/* ---- Per-command facts, for dispatch tables and traces ---- */

typedef enum VupDirection {
    VUP_DIR_CLIENT_TO_SERVER,
    VUP_DIR_SERVER_TO_CLIENT,
} VupDirection;

typedef struct VupCommandInfo {
    const char *name;           /* NULL: not a command of the spec */
    VupDirection direction;
    uint32_t min_request;       /* bytes of payload a request must have */
    uint32_t min_reply;         /* bytes of payload a good reply must have */
} VupCommandInfo;

/* Facts about @command, or NULL when the spec has no such command. */
const VupCommandInfo *vup_command_info(uint32_t command);

/* The spec's name of @command ("VFIO_USER_REGION_READ"), or "unknown". */
const char *vup_command_name(uint32_t command);

#endif /* VUP_PROTO_H */
