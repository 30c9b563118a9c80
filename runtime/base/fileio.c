/* File helpers shared by the runtime: folders, temporary names, atomic replacement. */
#include "runtime/base/fileio.h"
#include "runtime/base/base.h"
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

void ctvk__dir_of(const char *path, char *buf, size_t n)
{
    snprintf(buf, n, "%s", path);
    char *s = strrchr(buf, '/');
    if (!s) snprintf(buf, n, ".");
    else if (s == buf) s[1] = 0;
    else *s = 0;
}

/* The one atomic replacement of a file in the project: the finished temporary file is synced,
 * renamed over path and the folder synced, so that a crash or a full disk never leaves a half-written
 * file and the previous file stays until the rename. f is the open temporary file (NULL when a
 * library wrote and closed it); err a write error the caller already saw (0 if none). The one
 * fault-injection site for file writes is here: CTVK_FAULT=site makes the disk full at the end of
 * that write (sites: "file-write", "checkpoint-write", "cache-write"). */
ctvk_status ctvk__replace(FILE *f, const char *tmp, const char *path, const char *site, int err)
{
    const char *step = "writing";
    int injected = 0;
    if (f) {
        errno = 0;
        if (!err && (ferror(f) || fflush(f) != 0)) err = errno ? errno : EIO;
    }
    if (!err && ctvk__fault(site)) { err = ENOSPC; injected = 1; }
    if (f) {
        if (!err && fsync(fileno(f)) != 0) { err = errno; step = "syncing"; }
        if (fclose(f) != 0 && !err) { err = errno ? errno : EIO; step = "closing"; }
    } else if (!err) {
        int fd = open(tmp, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) != 0) { err = errno; step = "syncing"; }
        if (fd >= 0) close(fd);
    }
    if (!err && rename(tmp, path) != 0) { err = errno; step = "renaming"; }
    if (err) {
        unlink(tmp);
        return ctvk__fail(CTVK_ERR_IO, "cannot write %s: %s%s (%s the temporary file failed%s; the previous file, if "
                          "any, is unchanged and no partial file is left)", path, strerror(err),
                          err == ENOSPC || err == EDQUOT ? ": the disk is full" : "", step,
                          injected ? ", an injected fault (CTVK_FAULT)" : "");
    }
    char dir[4200];
    ctvk__dir_of(path, dir, sizeof dir);
    int dfd = open(dir, O_RDONLY | O_CLOEXEC);      /* make the rename durable (best effort) */
    if (dfd >= 0) { fsync(dfd); close(dfd); }
    return CTVK_OK;
}

ctvk_status ctvk__commit(const char *tmp, const char *path) { return ctvk__replace(NULL, tmp, path, "file-write", 0); }

ctvk_status ctvk__open_tmp(const char *path, char *tmp, size_t tmpsize, FILE **f)
{
    ctvk__tmp_name(path, tmp, tmpsize);
    *f = fopen(tmp, "wb");
    if (!*f) {
        int e = errno;
        char dir[4200];
        ctvk__dir_of(path, dir, sizeof dir);
        return ctvk__fail(CTVK_ERR_IO, "cannot write %s: %s (a temporary file cannot be created in the folder '%s')",
                          path, strerror(e), dir);
    }
    return CTVK_OK;
}

ctvk_status ctvk__close_commit(FILE *f, const char *tmp, const char *path)
{
    return ctvk__replace(f, tmp, path, "file-write", 0);
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
    FILE *f;
    CTVK_TRY(ctvk__open_tmp(path, tmp, sizeof tmp, &f));
    int err = len && fwrite(data, 1, len, f) != len ? (errno ? errno : EIO) : 0;
    return ctvk__replace(f, tmp, path, "file-write", err);
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

char *ctvk__cache_folder(const char *configured)
{
    const char *d = configured;
    if (!d) d = getenv("CTVK_CACHE_DIR");
    if (d) return *d ? strdup(d) : NULL;
    /* the documented location, $XDG_CACHE_HOME/ctvk or $HOME/.cache/ctvk, only below a folder that
     * exists: a HOME of /nonexistent (a service account) means no cache, never a new folder tree */
    char buf[4096];
    struct stat st;
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg) {
        if (stat(xdg, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
        snprintf(buf, sizeof buf, "%s/ctvk", xdg);
    } else if (home && *home) {
        if (stat(home, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
        snprintf(buf, sizeof buf, "%s/.cache/ctvk", home);
    } else {
        return NULL;
    }
    return strdup(buf);
}
