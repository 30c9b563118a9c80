/* Facts about files, kept for the rest of the boot (runtime/base/fileio.h): that a weights cache
 * entry's checksums were verified, a checkpoint's SHA-256. Each is one small file in ctvk's cache
 * folder, fact-HASH.txt (HASH of what the fact is and the file's device and inode), holding the
 * file's stamp when the fact was established and the fact's value. A fact is taken only while the
 * stamp is the file's own: the boot (Linux's boot_id), device, inode, size, and the modification
 * and change times to the nanosecond. Any write to the file, a rename over it, a truncation or a
 * reboot changes one of them; the change time cannot be set back by anyone but the clock. Why the
 * boot: a file written without fsync and torn by a crash keeps its stamp, so nothing established
 * before a reboot is taken after it. Writes are plain (no fsync; a lost fact only costs the work it
 * saved) and replace the file by a rename. */
#include "runtime/base/base.h"
#include "runtime/base/fileio.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Linux's boot id, read once per process ("" where there is none: then no fact is taken). */
static pthread_once_t g_boot_once = PTHREAD_ONCE_INIT;
static char g_boot[40];

static void read_boot(void)
{
    int b = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    ssize_t n = b >= 0 ? read(b, g_boot, sizeof g_boot - 1) : -1;
    if (b >= 0) close(b);
    g_boot[n >= 8 ? strcspn(g_boot, "\n") : 0] = 0;
}

int ctvk__stamp(int fd, ctvk_stamp *s)
{
    memset(s, 0, sizeof *s);
    pthread_once(&g_boot_once, read_boot);
    struct stat st;
    if (!*g_boot || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
    memcpy(s->boot, g_boot, sizeof s->boot);
    s->dev = (unsigned long long)st.st_dev;
    s->ino = (unsigned long long)st.st_ino;
    s->size = (unsigned long long)st.st_size;
    s->mtime_ns = (unsigned long long)st.st_mtim.tv_sec * 1000000000ull + (unsigned long long)st.st_mtim.tv_nsec;
    s->ctime_ns = (unsigned long long)st.st_ctim.tv_sec * 1000000000ull + (unsigned long long)st.st_ctim.tv_nsec;
    return 0;
}

int ctvk__stamp_settled(const ctvk_stamp *s, double seconds)
{
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0) return 0;
    double age = (double)now.tv_sec + 1e-9 * (double)now.tv_nsec - 1e-9 * (double)s->ctime_ns;
    return age >= seconds;
}

/* The fact's file and the line its value follows. */
static void fact_names(const char *dir, const char *what, const ctvk_stamp *s, char *path, size_t np, char *head,
                       size_t nh)
{
    uint64_t k[2] = {s->dev, s->ino};
    uint64_t h = ctvk__xxh3(k, sizeof k, ctvk__xxh3(what, strlen(what), 0));
    snprintf(path, np, "%s/fact-%016llx.txt", dir, (unsigned long long)h);
    snprintf(head, nh, "ctvk fact 1: %s; boot %s; device %llu inode %llu size %llu mtime %llu ctime %llu\n", what,
             s->boot, s->dev, s->ino, s->size, s->mtime_ns, s->ctime_ns);
}

int ctvk__fact_get(const char *dir, const char *what, const ctvk_stamp *s, char *value, size_t n)
{
    char path[4200], head[512], buf[1024];
    if (!dir || !*s->boot || n == 0) return 0;
    fact_names(dir, what, s, path, sizeof path, head, sizeof head);
    int fd = -1;
    if (ctvk__open_regular(path, &fd) != 0) return 0;
    ssize_t k = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (k <= 0) return 0;
    buf[k] = 0;
    size_t hl = strlen(head);
    if (strncmp(buf, head, hl) != 0) return 0;
    const char *v = buf + hl;
    size_t vl = strcspn(v, "\n");
    if (vl == 0 || vl >= n || v[vl] != '\n') return 0;
    memcpy(value, v, vl);
    value[vl] = 0;
    return 1;
}

void ctvk__fact_put(const char *dir, const char *what, const ctvk_stamp *s, const char *value)
{
    char path[4200], head[512], tmp[4300];
    if (!dir || !*s->boot || strchr(value, '\n')) return;
    fact_names(dir, what, s, path, sizeof path, head, sizeof head);
    ctvk__tmp_name(path, tmp, sizeof tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);   /* never through a link */
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        if (fd >= 0) { close(fd); (void)unlink(tmp); }
        return;
    }
    int bad = fprintf(f, "%s%s\n", head, value) < 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) (void)unlink(tmp);
}
