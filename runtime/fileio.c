/* File helpers shared by the runtime: folders, temporary names, atomic replacement. */
#include "runtime/fileio.h"
#include "runtime/internal.h"
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void ctvk__tmp_name(const char *path, char *buf, size_t size)
{
    static atomic_uint counter;
    unsigned n = atomic_fetch_add(&counter, 1u);
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path + 1) : 0;
    snprintf(buf, size, "%.*s.%s.tmp-%ld-%u", dirlen, path, slash ? slash + 1 : path, (long)getpid(), n);
}

ctvk_status ctvk__commit(const char *tmp, const char *path)
{
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ctvk__fail(CTVK_ERR_IO, "%s: cannot rename the finished file into place (%s)", path, strerror(e));
    }
    return CTVK_OK;
}

ctvk_status ctvk__open_tmp(const char *path, char *tmp, size_t tmpsize, FILE **f)
{
    ctvk__tmp_name(path, tmp, tmpsize);
    *f = fopen(tmp, "wb");
    if (!*f) return ctvk__fail(CTVK_ERR_IO, "%s: cannot write (%s)", path, strerror(errno));
    return CTVK_OK;
}

ctvk_status ctvk__close_commit(FILE *f, const char *tmp, const char *path)
{
    int bad = ferror(f);
    if (fclose(f) != 0) bad = 1;
    if (bad) {
        int e = errno;
        unlink(tmp);
        return ctvk__fail(CTVK_ERR_IO, "%s: write failed (%s)", path, e ? strerror(e) : "I/O error");
    }
    return ctvk__commit(tmp, path);
}

ctvk_status ctvk__mkdirs(const char *path)
{
    if (!*path) return ctvk__fail(CTVK_ERR_ARG, "empty folder name");
    char *p = strdup(path);
    if (!p) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                ctvk_status st = ctvk__fail(CTVK_ERR_IO, "%s: cannot create the folder (%s)", p, strerror(errno));
                free(p);
                return st;
            }
            *s = c;
            if (!c) break;
        }
    }
    struct stat st;
    int ok = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
    free(p);
    return ok ? CTVK_OK : ctvk__fail(CTVK_ERR_IO, "%s: not a folder", path);
}

ctvk_status ctvk__write_file_atomic(const char *path, const void *data, size_t len)
{
    char tmp[4200];
    ctvk__tmp_name(path, tmp, sizeof tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return ctvk__fail(CTVK_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left) {
        /* tests: CTVK_FAULT=file-write makes the disk full half-way */
        ssize_t w = ctvk__fault("file-write") ? (errno = ENOSPC, -1) : write(fd, p, left > 4096 ? 4096 : left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w == 0 ? ENOSPC : errno;
            close(fd);
            unlink(tmp);
            return ctvk__fail(CTVK_ERR_IO, "cannot write %s: %s%s (the previous file, if any, is unchanged; no partial "
                              "file is left)", path, strerror(e), e == ENOSPC || e == EDQUOT ? ": the disk is full" : "");
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return ctvk__fail(CTVK_ERR_IO, "cannot write %s: %s%s (the previous file, if any, is unchanged; no partial "
                          "file is left)", path, strerror(e), e == ENOSPC || e == EDQUOT ? ": the disk is full" : "");
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ctvk__fail(CTVK_ERR_IO, "cannot replace %s: %s", path, strerror(e));
    }
    return CTVK_OK;
}

int ctvk__exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

ctvk_status ctvk__lock_dir(const char *dir, const char *holder, int *fd_out)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/.ctvk.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
    if (fd < 0) return ctvk__fail(CTVK_ERR_IO, "%s: cannot create the lock file %s (%s)", dir, path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char who[600] = "";
        ssize_t r = pread(fd, who, sizeof who - 1, 0);
        close(fd);
        if (r > 0) who[r] = 0;
        who[strcspn(who, "\n")] = 0;
        if (e == EWOULDBLOCK)
            return ctvk__fail(CTVK_ERR_ARG, "%s is in use by another ctvk (%s): wait for it to end, or write into "
                              "another folder (--set output.dir=...)", dir, *who ? who : "holder unknown");
        return ctvk__fail(CTVK_ERR_IO, "%s: cannot lock %s (%s)", dir, path, strerror(e));
    }
    char line[700];
    int n = snprintf(line, sizeof line, "%s\n", holder);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1, 0) < 0) {
        int e = errno;
        close(fd);
        return ctvk__fail(CTVK_ERR_IO, "%s: cannot write the lock file %s (%s)", dir, path, strerror(e));
    }
    *fd_out = fd;
    return CTVK_OK;
}

int ctvk__open_regular(const char *path, int *fd_out)
{
    *fd_out = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);   /* a FIFO must not block the open */
    if (fd < 0) return errno;
    struct stat st;
    if (fstat(fd, &st) != 0) { int e = errno; close(fd); return e; }
    if (!S_ISREG(st.st_mode)) { close(fd); return S_ISDIR(st.st_mode) ? EISDIR : -1; }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    *fd_out = fd;
    return 0;
}

const char *ctvk__open_error(int e)
{
    return e == -1 ? "not a regular file" : e == EISDIR ? "a folder, not a file" : strerror(e);
}

FILE *ctvk__fopen_regular(const char *path, int *err)
{
    int fd, e = ctvk__open_regular(path, &fd);
    if (err) *err = e;
    if (e) { errno = e > 0 ? e : EINVAL; return NULL; }
    FILE *f = fdopen(fd, "rb");
    if (!f) { if (err) *err = errno; close(fd); }
    return f;
}
