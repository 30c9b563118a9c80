/* Private: small file helpers shared by the runtime: folders and atomic writes. */
#ifndef CTVK_RUNTIME_FILEIO_H
#define CTVK_RUNTIME_FILEIO_H
#include "ctvk/ctvk.h"
#include <stddef.h>

#include <stdio.h>

/* mkdir -p; fails with a message naming the folder. */
ctvk_status ctvk__mkdirs(const char *path);
/* The folder of path into buf ("." for a bare name, "/" for a file in the root). */
void ctvk__dir_of(const char *path, char *buf, size_t n);
/* A temporary name beside path ("dir/.name.tmp-PID-N"), unique within the process. */
void ctvk__tmp_name(const char *path, char *buf, size_t size);
/* Atomic replacement, one implementation (ctvk__replace): write a temporary file beside path, then
 * ctvk__replace syncs it, renames it over path and syncs the folder; on any failure the temporary file
 * is removed, the previous file stays, and the message names path and the cause.
 *   f: the open temporary file (closed here), or NULL when a library wrote and closed tmp;
 *   site: the CTVK_FAULT site that makes this write fail ("file-write", "checkpoint-write", ...);
 *   err: a write error the caller already saw (an errno), 0 if none. */
ctvk_status ctvk__replace(FILE *f, const char *tmp, const char *path, const char *site, int err);
/* ctvk__replace of a temporary file a library wrote and closed (site "file-write"). */
ctvk_status ctvk__commit(const char *tmp, const char *path);
/* Opens a temporary file beside path for writing and says so on failure (naming path and its folder). */
ctvk_status ctvk__open_tmp(const char *path, char *tmp, size_t tmpsize, FILE **f);
/* ctvk__replace of f (site "file-write"). */
ctvk_status ctvk__close_commit(FILE *f, const char *tmp, const char *path);
/* The whole of data to path through ctvk__open_tmp and ctvk__replace. */
ctvk_status ctvk__write_file_atomic(const char *path, const void *data, size_t len);
/* Locks the folder dir for this process (flock on dir/.ctvk.lock, which then names the holder):
 * CTVK_ERR_ARG naming the folder and the holder when another process holds it. The lock lasts as
 * long as *fd is open (until the process ends). */
ctvk_status ctvk__lock_dir(const char *dir, const char *holder, int *fd);
/* Opens path for reading only when it is a regular file, checked before anything can block (a FIFO,
 * a device): 0 and *fd, or an errno (-1: not a regular file; EISDIR: a folder) for ctvk__open_error. */
int ctvk__open_regular(const char *path, int *fd);
const char *ctvk__open_error(int err);
/* The same as a FILE (binary read); NULL with *err set (err may be NULL) and errno set. */
FILE *ctvk__fopen_regular(const char *path, int *err);
/* 1 if path exists (any kind). */
int ctvk__exists(const char *path);

/* ctvk's cache folder (malloc'ed) as ctvk_options.cache_dir configures it: that folder; NULL: $CTVK_CACHE_DIR,
 * else $XDG_CACHE_HOME/ctvk or ~/.cache/ctvk below a folder that exists; NULL when there is none or ""
 * turns the cache off. */
char *ctvk__cache_folder(const char *configured);

/* Facts about a file that hold while it is unchanged, kept for the rest of the boot in a folder
 * (ctvk's cache folder): runtime/base/facts.c. A stamp: the boot and the file's device, inode, size
 * and modification and change times (ns). */
typedef struct ctvk_stamp {
    char boot[40];
    unsigned long long dev, ino, size, mtime_ns, ctime_ns;
} ctvk_stamp;
/* The stamp of open file fd: 0, or -1 (no boot id, not a regular file: then no fact is taken). */
int ctvk__stamp(int fd, ctvk_stamp *s);
/* Whether the file last changed at least `seconds` ago by the clock: a fact about a file that may
 * still be written (a checkpoint) is only put once it has settled. */
int ctvk__stamp_settled(const ctvk_stamp *s, double seconds);
/* 1 and the value (a line) when the fact `what` was put for a file with exactly this stamp. */
int ctvk__fact_get(const char *dir, const char *what, const ctvk_stamp *s, char *value, size_t n);
/* Records it (a failure only loses it). */
void ctvk__fact_put(const char *dir, const char *what, const ctvk_stamp *s, const char *value);
#endif
