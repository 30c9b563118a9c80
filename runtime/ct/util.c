/* Small helpers of the CT data layer: paths, natural order, random numbers. */
#include "runtime/ct/ct_internal.h"
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *ctvk__path_join(const char *a, const char *b)
{
    if (!a || !*a) return strdup(b);
    size_t la = strlen(a), lb = strlen(b);
    while (la > 1 && a[la - 1] == '/') la--;
    char *p = malloc(la + lb + 2);
    if (!p) return NULL;
    memcpy(p, a, la);
    size_t k = la;
    if (a[la - 1] != '/') p[k++] = '/';
    memcpy(p + k, b, lb + 1);
    return p;
}

static int isdig(char c) { return c >= '0' && c <= '9'; }

int ctvk__natcmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdig(*a) && isdig(*b)) {
            const char *ea = a, *eb = b;
            while (*a == '0' && isdig(a[1])) a++;
            while (*b == '0' && isdig(b[1])) b++;
            const char *da = a, *db = b;
            while (isdig(*a)) a++;
            while (isdig(*b)) b++;
            size_t la = (size_t)(a - da), lb = (size_t)(b - db);
            if (la != lb) return la < lb ? -1 : 1;
            int c = memcmp(da, db, la);
            if (c) return c < 0 ? -1 : 1;
            size_t za = (size_t)(da - ea), zb = (size_t)(db - eb);   /* "01" after "1" */
            if (za != zb) return za < zb ? -1 : 1;
            continue;
        }
        if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++, b++;
    }
    return *a ? 1 : *b ? -1 : 0;
}

int ctvk__ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

uint64_t ctvk__mix(uint64_t a, uint64_t b)
{
    uint64_t s = a ^ (b * 0xD1B54A32D192ED03ull + 0x8CB92BA72F3D8DD7ull);
    ctvk__rng(&s);
    return ctvk__rng(&s);
}

ctvk_status ctvk__strs_push(ctvk__strs *s, const char *str)
{
    CTVK__GROW(s->v, s->cap, s->n + 1, 64, return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"));
    char *c = strdup(str);
    if (!c) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    s->v[s->n++] = c;
    return CTVK_OK;
}

void ctvk__strs_pushf(ctvk__strs *s, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    (void)ctvk__strs_push(s, buf);
}

void ctvk__strs_free(ctvk__strs *s)
{
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    s->v = NULL, s->n = s->cap = 0;
}

/* ------------------------------------------------------------------ string map */
static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static size_t map_slot(const ctvk__map *m, const char *key)
{
    size_t i = (size_t)hash_str(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key)) i = (i + 1) & (m->cap - 1);
    return i;
}

int ctvk__map_get(const ctvk__map *m, const char *key, int *val)
{
    if (!m->cap) return 0;
    size_t i = map_slot(m, key);
    if (!m->keys[i]) return 0;
    if (val) *val = m->vals[i];
    return 1;
}

ctvk_status ctvk__map_put(ctvk__map *m, const char *key, int val)
{
    if (2 * (m->n + 1) > m->cap) {
        ctvk__map bigger = {0};
        bigger.cap = m->cap ? 2 * m->cap : 64;
        bigger.keys = calloc(bigger.cap, sizeof *bigger.keys);
        bigger.vals = calloc(bigger.cap, sizeof *bigger.vals);
        if (!bigger.keys || !bigger.vals) {
            free(bigger.keys), free(bigger.vals);
            return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) {
                size_t j = map_slot(&bigger, m->keys[i]);
                bigger.keys[j] = m->keys[i], bigger.vals[j] = m->vals[i];
            }
        bigger.n = m->n;
        free(m->keys), free(m->vals);
        *m = bigger;
    }
    size_t i = map_slot(m, key);
    if (!m->keys[i]) {
        if (!(m->keys[i] = strdup(key))) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
        m->n++;
    }
    m->vals[i] = val;
    return CTVK_OK;
}

void ctvk__map_free(ctvk__map *m)
{
    for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
    free(m->keys), free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------------ names */
const char *ctvk_class_name(int cls)
{
    return cls == CTVK_CLASS_COVID ? "covid" : cls == CTVK_CLASS_NORMAL ? "normal" : "unknown";
}

static int contains_ci(const char *s, size_t n, const char *w)
{
    size_t lw = strlen(w);
    for (size_t i = 0; i + lw <= n; i++) {
        size_t k = 0;
        while (k < lw && (s[i + k] | 0x20) == w[k]) k++;
        if (k == lw) return 1;
    }
    return 0;
}

int ctvk_class_from_name(const char *s)
{
    size_t n = strlen(s);
    int c = contains_ci(s, n, "covid"), m = contains_ci(s, n, "normal");
    return c == m ? CTVK_CLASS_UNKNOWN : c ? CTVK_CLASS_COVID : CTVK_CLASS_NORMAL;
}

/* "patient" followed by digits, at s, ending at a separator in `ends` (or the end) */
static size_t patient_at(const char *s, const char *ends)
{
    if (strncmp(s, "patient", 7) || !isdig(s[7])) return 0;
    size_t k = 7;
    while (isdig(s[k])) k++;
    if (s[k] && !strchr(ends, s[k])) return 0;
    return k;
}

int ctvk_patient_from_path(const char *path, char *id, size_t idsize)
{
    /* a path component that is exactly patientN: the last one wins */
    size_t best = 0;
    const char *bestp = NULL;
    for (const char *p = path; *p; p++) {
        if (p != path && p[-1] != '/') continue;
        size_t k = patient_at(p, "/");
        if (k && (p[k] == '/' || p[k] == 0)) best = k, bestp = p;
    }
    if (!bestp) {
        /* the file name's first _patientN_ part */
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        for (const char *p = base; *p; p++) {
            if (p[0] != '_') continue;
            size_t k = patient_at(p + 1, "_");
            if (k && p[1 + k] == '_') { best = k, bestp = p + 1; break; }
        }
    }
    if (!bestp || best + 1 > idsize) return 0;
    memcpy(id, bestp, best);
    id[best] = 0;
    return 1;
}
