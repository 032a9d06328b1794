/*
 * Unit tests: the wire header against the spec's tables.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "vup/dm-ext.h"
#include "vup/proto.h"

static void test_command_numbers(void **state)
{
    static const struct { uint32_t cmd; const char *name; } spec[] = {
        { 1, "VFIO_USER_VERSION" },
        { 2, "VFIO_USER_DMA_MAP" },
        { 3, "VFIO_USER_DMA_UNMAP" },
        { 4, "VFIO_USER_DEVICE_GET_INFO" },
        { 5, "VFIO_USER_DEVICE_GET_REGION_INFO" },
        { 6, "VFIO_USER_DEVICE_GET_REGION_IO_FDS" },
        { 7, "VFIO_USER_DEVICE_GET_IRQ_INFO" },
        { 8, "VFIO_USER_DEVICE_SET_IRQS" },
        { 9, "VFIO_USER_REGION_READ" },
        { 10, "VFIO_USER_REGION_WRITE" },
        { 11, "VFIO_USER_DMA_READ" },
        { 12, "VFIO_USER_DMA_WRITE" },
        { 13, "VFIO_USER_DEVICE_RESET" },
        { 15, "VFIO_USER_REGION_WRITE_MULTI" },
        { 16, "VFIO_USER_DEVICE_FEATURE" },
        { 17, "VFIO_USER_MIG_DATA_READ" },
        { 18, "VFIO_USER_MIG_DATA_WRITE" },
    };

    for (size_t i = 0; i < sizeof(spec) / sizeof(spec[0]); i++) {
        const VupCommandInfo *info = vup_command_info(spec[i].cmd);

        assert_non_null(info);
        assert_string_equal(info->name, spec[i].name);
        assert_string_equal(vup_command_name(spec[i].cmd), spec[i].name);
    }
    assert_int_equal(VUP_CMD_MAX, 19);
}

static void test_unknown_commands(void **state)
{
    const uint32_t unknown[] = { 0, 14, 19, 100, 0xffff, 0xffffffff };

    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        assert_null(vup_command_info(unknown[i]));
        assert_string_equal(vup_command_name(unknown[i]), "unknown");
    }
}

static void test_directions(void **state)
{
    assert_int_equal(vup_command_info(VUP_CMD_DM_IRQ)->direction,
                     VUP_DIR_SERVER_TO_CLIENT);
    assert_int_equal(vup_command_info(VUP_CMD_DM_IRQ)->min_request, 8);
    assert_int_equal(vup_command_info(VUP_CMD_DMA_READ)->direction,
                     VUP_DIR_SERVER_TO_CLIENT);
    assert_int_equal(vup_command_info(VUP_CMD_DMA_WRITE)->direction,
                     VUP_DIR_SERVER_TO_CLIENT);
    assert_int_equal(vup_command_info(VUP_CMD_REGION_READ)->direction,
                     VUP_DIR_CLIENT_TO_SERVER);
}

static void test_minimum_payloads(void **state)
{
    /* Fixed parts from the spec's request tables. */
    assert_int_equal(vup_command_info(VUP_CMD_VERSION)->min_request, 4);
    assert_int_equal(vup_command_info(VUP_CMD_DMA_MAP)->min_request, 32);
    assert_int_equal(vup_command_info(VUP_CMD_DMA_UNMAP)->min_request, 24);
    assert_int_equal(vup_command_info(VUP_CMD_DEVICE_GET_INFO)->min_request,
                     16);
    assert_int_equal(
        vup_command_info(VUP_CMD_DEVICE_GET_REGION_INFO)->min_request, 32);
    assert_int_equal(vup_command_info(VUP_CMD_DEVICE_SET_IRQS)->min_request,
                     20);
    assert_int_equal(vup_command_info(VUP_CMD_REGION_READ)->min_request, 16);
    assert_int_equal(vup_command_info(VUP_CMD_DMA_WRITE)->min_reply, 12);
    assert_int_equal(vup_command_info(VUP_CMD_DEVICE_RESET)->min_request, 0);
    assert_int_equal(
        vup_command_info(VUP_CMD_REGION_WRITE_MULTI)->min_request, 8);
}

static void test_field_offsets(void **state)
{
    /* Offsets from the spec's tables; sizes are checked at build time. */
    assert_int_equal(offsetof(VupHeader, command), 2);
    assert_int_equal(offsetof(VupHeader, msg_size), 4);
    assert_int_equal(offsetof(VupHeader, flags), 8);
    assert_int_equal(offsetof(VupHeader, error_no), 12);
    assert_int_equal(offsetof(VupDmaMap, offset), 8);
    assert_int_equal(offsetof(VupDmaMap, address), 16);
    assert_int_equal(offsetof(VupDmaMap, size), 24);
    assert_int_equal(offsetof(VupRegionInfo, size), 16);
    assert_int_equal(offsetof(VupRegionInfo, offset), 24);
    assert_int_equal(offsetof(VupIrqSet, count), 16);
    assert_int_equal(offsetof(VupRegionAccess, region), 8);
    assert_int_equal(offsetof(VupRegionAccess, count), 12);
    assert_int_equal(offsetof(VupDmaAccess, count), 8);
    assert_int_equal(offsetof(VupWriteMultiEntry, data), 16);
    assert_int_equal(offsetof(VupSubRegionIoFd, fd_index), 16);
    assert_int_equal(offsetof(VupSubRegionIoFd, datamatch), 32);
}

static void test_flag_masks(void **state)
{
    assert_int_equal(VUP_FLAG_NO_REPLY, 0x10);
    assert_int_equal(VUP_FLAG_ERROR, 0x20);
    assert_int_equal(VUP_IRQ_SET_ACTION_TRIGGER, 0x20);
    assert_int_equal(VUP_IRQ_SET_DATA_TYPE_MASK, 0x07);
    assert_int_equal(VUP_IRQ_SET_ACTION_TYPE_MASK, 0x38);
    assert_int_equal(VUP_REGION_INFO_FLAG_CAPS, 0x8);
    assert_int_equal(VUP_DEVICE_FEATURE_PROBE, 1u << 18);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_numbers),
        cmocka_unit_test(test_unknown_commands),
        cmocka_unit_test(test_directions),
        cmocka_unit_test(test_minimum_payloads),
        cmocka_unit_test(test_field_offsets),
        cmocka_unit_test(test_flag_masks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
