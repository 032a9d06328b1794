/*
 * dmctl vm ...: VMs and their life cycle; argv[0] is the subcommand's
 * name.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DMCTL_VMS_H
#define DMCTL_VMS_H


int dmctl_vm_create(int argc, char **argv);
int dmctl_vm_start(int argc, char **argv);
int dmctl_vm_stop(int argc, char **argv);
int dmctl_vm_suspend(int argc, char **argv);
int dmctl_vm_resume(int argc, char **argv);
int dmctl_vm_link(int argc, char **argv);
int dmctl_vm_migrate(int argc, char **argv);
int dmctl_vm_save(int argc, char **argv);
int dmctl_vm_restore(int argc, char **argv);
int dmctl_vm_list(int argc, char **argv);
int dmctl_vm_show(int argc, char **argv);
int dmctl_vm_remove(int argc, char **argv);

#endif /* DMCTL_VMS_H */
