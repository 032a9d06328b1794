/*
 * dm-orchestrator: its log on stderr (log.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_LOG_H
#define ORCH_LOG_H

#include <glib.h>

extern int orch_log_level;      /* 0 quiet, 1 normal, 2 verbose */
void orch_log(int level, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
#define orch_info(...) orch_log(1, __VA_ARGS__)
#define orch_debug(...) orch_log(2, __VA_ARGS__)
#define orch_warn(...) orch_log(0, __VA_ARGS__)

#endif /* ORCH_LOG_H */
