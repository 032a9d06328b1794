/*
 * Memory that outlives a crash of the process (see persist.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist.h"

char *dm_persist_path(const char *state_file, const char *suffix)
{
    char *path;

    return asprintf(&path, "%s.%s", state_file, suffix) < 0 ? NULL : path;
}

int dm_persist_open(DmPersist *p, const char *path, size_t size)
{
    struct stat st;
    void *mem;
    int fd, ret;

    memset(p, 0, sizeof(*p));
    if (!path) {
        p->mem = calloc(1, size ? size : 1);
        p->size = size;
        return p->mem ? 0 : -ENOMEM;
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        return -errno;
    }
    /* Another size is another layout: start from zeros. */
    if (fstat(fd, &st) < 0 || (st.st_size != (off_t)size &&
                               (ftruncate(fd, 0) < 0 ||
                                ftruncate(fd, size) < 0))) {
        ret = -errno;
        close(fd);
        return ret;
    }
    mem = mmap(NULL, size ? size : 1, PROT_READ | PROT_WRITE, MAP_SHARED,
               fd, 0);
    ret = -errno;
    close(fd);
    if (mem == MAP_FAILED) {
        return ret;
    }
    p->mem = mem;
    p->size = size;
    p->mapped = true;
    return 0;
}

void dm_persist_close(DmPersist *p)
{
    if (p->mapped) {
        munmap(p->mem, p->size ? p->size : 1);
    } else {
        free(p->mem);
    }
    memset(p, 0, sizeof(*p));
}
