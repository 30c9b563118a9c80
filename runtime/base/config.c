/* INI configs through iniparser, with "section.key=value" overrides and checked getters. */
#include "ctvk/config.h"
#include "runtime/base/config_keys.h"
#include "runtime/base/array.h"
#include "runtime/base/fileio.h"
#include "runtime/base/base.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <iniparser.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct ctvk_config {
    dictionary *d;
    char *path;
};

/* iniparser reads lines of at most this many bytes (its ASCIILINESZ, newline included) */
#define INI_LINE_MAX 1024

int ctvk__parse_decimal(const char *v, long *out)
{
    const char *p = v;
    while (*p == ' ' || *p == '\t') p++;
    const char *digits = p + (*p == '-' || *p == '+');
    if (*digits < '0' || *digits > '9') return -1;
    char *end;
    errno = 0;
    long x = strtol(p, &end, 10);
    int overflow = errno == ERANGE;
    while (*end == ' ' || *end == '\t') end++;
    if (*end) return -1;
    if (overflow) return -2;
    *out = x;
    return 0;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = 0;
    size_t k = 0;
    while (s[k] == ' ' || s[k] == '\t') k++;
    memmove(s, s + k, n - k + 1);
}

/* What iniparser would take silently: a key given twice in one section (the last one wins) and a line
 * longer than it reads (the whole file is refused without a reason). Both refused here, with lines. */
static ctvk_status scan_ini(const char *path, FILE *f)
{
    typedef struct seen { char name[2 * INI_LINE_MAX + 8]; int line; } seen;
    seen *keys = NULL;
    size_t nkeys = 0, cap = 0;
    char section[INI_LINE_MAX + 2] = "", line[INI_LINE_MAX + 2];
    ctvk_status s = CTVK_OK;
    int no = 0, cont = 0;
    while (!s && fgets(line, sizeof line, f)) {
        no++;
        size_t len = strlen(line);
        int whole = (len && line[len - 1] == '\n') || feof(f);
        if (!whole || len - (line[len - 1] == '\n') > INI_LINE_MAX - 2) {
            s = ctvk__fail(CTVK_ERR_FORMAT, "config %s: line %d is longer than the %d bytes a config line may hold",
                           path, no, INI_LINE_MAX - 2);
            break;
        }
        int was_cont = cont;
        trim(line);
        len = strlen(line);
        cont = len && line[len - 1] == '\\';
        if (was_cont || !len || line[0] == ';' || line[0] == '#') continue;
        if (line[0] == '[') {
            char *close = strchr(line, ']');
            if (close) {
                *close = 0;
                snprintf(section, sizeof section, "%s", line + 1);
                trim(section);
                for (char *q = section; *q; q++) *q = (char)tolower((unsigned char)*q);
            }
            continue;
        }
        char *eq = strchr(line, '=');
        if (!eq) continue;
        *eq = 0;
        trim(line);
        char full[2 * INI_LINE_MAX + 8];
        snprintf(full, sizeof full, "%s:%s", section, line);
        for (char *q = full; *q; q++) *q = (char)tolower((unsigned char)*q);
        for (size_t i = 0; i < nkeys; i++)
            if (!strcmp(keys[i].name, full)) {
                s = ctvk__fail(CTVK_ERR_FORMAT, "config %s: [%s] %s is given twice (lines %d and %d): keep one", path,
                               section, line, keys[i].line, no);
                break;
            }
        if (s) break;
        CTVK__GROW(keys, cap, nkeys + 1, 64, s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory reading config"));
        if (s) break;
        snprintf(keys[nkeys].name, sizeof keys[nkeys].name, "%s", full);
        keys[nkeys++].line = no;
    }
    if (!s && ferror(f)) s = ctvk__fail(CTVK_ERR_IO, "config %s: read error (%s)", path, strerror(errno));
    free(keys);
    return s;
}

ctvk_status ctvk_config_load(const char *path, ctvk_config **out)
{
    *out = NULL;
    ctvk_config *c = calloc(1, sizeof *c);
    if (!c) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory reading config");
    if (path) {
        /* O_NONBLOCK: a FIFO must not block the open; it is refused below as not a regular file */
        int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            int e = errno;
            if (fd >= 0) close(fd);
            free(c);
            return ctvk__fail(CTVK_ERR_IO, "config %s: cannot read it (%s)", path, strerror(e));
        }
        if (!S_ISREG(st.st_mode)) {
            close(fd);
            free(c);
            return ctvk__fail(CTVK_ERR_IO, "config %s: cannot read it (%s)", path,
                              S_ISDIR(st.st_mode) ? "it is a folder, not a config file" : "not a regular file");
        }
        FILE *f = fdopen(fd, "r");
        if (!f) { close(fd); free(c); return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory reading config"); }
        ctvk_status sc = scan_ini(path, f);
        fclose(f);
        if (sc) { free(c); return sc; }
        c->d = iniparser_load(path);
        if (!c->d) {
            free(c);
            return ctvk__fail(CTVK_ERR_FORMAT, "config %s: not a valid INI file", path);
        }
        c->path = strdup(path);
    } else {
        c->d = dictionary_new(0);
        c->path = strdup("(no file)");
    }
    if (!c->d || !c->path) { ctvk_config_free(c); return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"); }
    *out = c;
    return CTVK_OK;
}

void ctvk_config_free(ctvk_config *c)
{
    if (!c) return;
    if (c->d) iniparser_freedict(c->d);
    free(c->path);
    free(c);
}

const char *ctvk_config_path(const ctvk_config *c) { return c->path; }

/* Whether "key = value" can be written so that iniparser reads back exactly value, and with which
 * quote (0: none). iniparser strips spaces around an unquoted value and ends it at ';' or '#'; a
 * quoted value keeps everything up to its closing quote. */
static int ini_writable(const char *key, const char *v, char *quote)
{
    size_t n = strlen(v);
    char q = 0;
    if (strpbrk(v, "\n\r")) return 0;
    if (!n || strpbrk(v, ";#") || v[0] == '"' || v[0] == '\'' || v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' ||
        v[n - 1] == '\t' || v[n - 1] == '\\')
        q = !strchr(v, '"') ? '"' : !strchr(v, '\'') ? '\'' : 1;
    if (q == 1) return 0;
    if (strlen(key) + 3 + n + (q ? 2 : 0) > INI_LINE_MAX - 2) return 0;
    if (quote) *quote = q;
    return 1;
}

ctvk_status ctvk_config_set(ctvk_config *c, const char *a)
{
    const char *dot = strchr(a, '.'), *eq = strchr(a, '=');
    if (!dot || !eq || dot > eq || dot == a || eq == dot + 1)
        return ctvk__fail(CTVK_ERR_ARG, "--set %s: expected section.key=value", a);
    char sec[128], key[256];
    size_t ls = (size_t)(dot - a), lk = (size_t)(eq - a);
    if (ls >= sizeof sec || lk >= sizeof key)
        return ctvk__fail(CTVK_ERR_ARG, "--set %s: name too long", a);
    memcpy(sec, a, ls); sec[ls] = 0;
    memcpy(key, a, lk); key[lk] = 0;
    for (size_t i = 0; i < lk; i++)
        if (!isalnum((unsigned char)a[i]) && a[i] != '_' && a[i] != '.' && a[i] != '-')
            return ctvk__fail(CTVK_ERR_ARG, "--set %s: section and key names are letters, digits, '_' and '-'", a);
    if (!ini_writable(key + ls + 1, eq + 1, NULL))
        return ctvk__fail(CTVK_ERR_ARG, "--set %.*s=...: the value (%zu characters) cannot be written into a config "
                          "and read back: it must hold no line break, not both kinds of quotes, and fit a config "
                          "line of %d bytes", (int)lk, a, strlen(eq + 1), INI_LINE_MAX - 2);
    key[ls] = ':';                            /* iniparser names keys "section:key" */
    for (char *p = key; *p; p++) if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    for (char *p = sec; *p; p++) if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    if (!iniparser_find_entry(c->d, sec) && iniparser_set(c->d, sec, NULL) != 0)
        return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    if (iniparser_set(c->d, key, eq + 1) != 0) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    return CTVK_OK;
}

static const char *lookup(const ctvk_config *c, const char *section, const char *key)
{
    char full[512];
    snprintf(full, sizeof full, "%s:%s", section, key);
    return iniparser_getstring(c->d, full, NULL);
}

int ctvk_config_has(const ctvk_config *c, const char *section, const char *key)
{
    return lookup(c, section, key) != NULL;
}

ctvk_status ctvk_config_str(const ctvk_config *c, const char *section, const char *key,
                            const char *def, const char **out)
{
    const char *v = lookup(c, section, key);
    *out = v ? v : def;
    return CTVK_OK;
}

ctvk_status ctvk_config_int(const ctvk_config *c, const char *section, const char *key, long def,
                            long lo, long hi, long *out)
{
    const char *v = lookup(c, section, key);
    *out = def;
    if (!v) return CTVK_OK;
    long x;
    int r = ctvk__parse_decimal(v, &x);
    if (r == -2)
        return ctvk__fail(CTVK_ERR_ARG, "config %s: [%s] %s = '%s' is out of range [%ld, %ld]", c->path, section, key,
                          v, lo, hi);
    if (r)
        return ctvk__fail(CTVK_ERR_ARG, "config %s: [%s] %s = '%s' is not an integer (integers are written in "
                          "decimal)", c->path, section, key, v);
    if (x < lo || x > hi)
        return ctvk__fail(CTVK_ERR_ARG, "config %s: [%s] %s = %ld is out of range [%ld, %ld]", c->path,
                          section, key, x, lo, hi);
    *out = x;
    return CTVK_OK;
}

ctvk_status ctvk_config_double(const ctvk_config *c, const char *section, const char *key, double def,
                               double lo, double hi, double *out)
{
    const char *v = lookup(c, section, key);
    *out = def;
    if (!v) return CTVK_OK;
    char *end;
    errno = 0;
    double x = strpbrk(v, "xXpP") ? 0 : strtod(v, &end);   /* no hexadecimal: numbers are decimal */
    if (strpbrk(v, "xXpP")) end = (char *)v;
    while (*end == ' ' || *end == '\t') end++;
    if (errno || end == v || *end || !isfinite(x))
        return ctvk__fail(CTVK_ERR_ARG, "config %s: [%s] %s = '%s' is not a number", c->path, section, key, v);
    if (x < lo || x > hi)
        return ctvk__fail(CTVK_ERR_ARG, "config %s: [%s] %s = %g is out of range [%g, %g]", c->path,
                          section, key, x, lo, hi);
    *out = x;
    return CTVK_OK;
}

ctvk_status ctvk_config_bool(const ctvk_config *c, const char *section, const char *key, int def, int *out)
{
    const char *v = lookup(c, section, key);
    *out = def;
    if (!v) return CTVK_OK;
    static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(v, yes[i])) { *out = 1; return CTVK_OK; }
        if (!strcasecmp(v, no[i])) { *out = 0; return CTVK_OK; }
    }
    return ctvk__fail(CTVK_ERR_ARG, "config %s: [%s] %s = '%s' is not a boolean (true/false)", c->path,
                      section, key, v);
}

ctvk_status ctvk_config_device_options(const ctvk_config *c, ctvk_options *o)
{
    ctvk_status s;
    const char *v;
    long x;
    int b;
    if ((v = lookup(c, "device", "name"))) o->device = v;
    if (ctvk_config_has(c, "device", "validation")) {
        if ((s = ctvk__key_bool(c, "device", "validation", &b))) return s;
        o->validation = b;
    }
    if (ctvk_config_has(c, "device", "profile")) {
        if ((s = ctvk__key_bool(c, "device", "profile", &b))) return s;
        o->profile = b;
    }
    if (ctvk_config_has(c, "device", "push_descriptors")) {
        if ((s = ctvk__key_bool(c, "device", "push_descriptors", &b))) return s;
        o->no_push_descriptors = !b;
    }
    if ((v = lookup(c, "device", "image_inputs"))) {
        if (!strcasecmp(v, "all")) o->image_inputs = CTVK_IMAGE_INPUTS_ALL;
        else if (ctvk_config_bool(c, "device", "image_inputs", 1, &b) == CTVK_OK) o->image_inputs = b;
        else return ctvk__fail(CTVK_ERR_ARG, "config %s: [device] image_inputs = '%s': expected true, false or all",
                               c->path, v);
    }
    if ((v = lookup(c, "device", "limits"))) {
        if (!strcasecmp(v, "device")) o->limits = CTVK_LIMITS_DEVICE;
        else if (!strcasecmp(v, "minimum")) o->limits = CTVK_LIMITS_MINIMUM;
        else return ctvk__fail(CTVK_ERR_ARG, "config %s: [device] limits = '%s': expected device or minimum",
                               c->path, v);
    }
    if ((v = lookup(c, "device", "variant"))) {
        if (!strcasecmp(v, "auto")) o->variant = CTVK_VARIANT_AUTO;
        else if (!strcasecmp(v, "gpu")) o->variant = CTVK_VARIANT_GPU;
        else if (!strcasecmp(v, "cpu")) o->variant = CTVK_VARIANT_CPU;
        else return ctvk__fail(CTVK_ERR_ARG, "config %s: [device] variant = '%s': expected auto, gpu or cpu",
                               c->path, v);
    }
    if (ctvk_config_has(c, "device", "memory_limit_mb")) {
        if ((s = ctvk__key_int(c, "device", "memory_limit_mb", &x))) return s;
        o->memory_limit = (uint64_t)x << 20;
    }
    if (ctvk_config_has(c, "device", "max_dispatches_per_submit")) {
        if ((s = ctvk__key_int(c, "device", "max_dispatches_per_submit", &x))) return s;
        o->max_dispatches_per_submit = (uint32_t)x;
    }
    if (ctvk_config_has(c, "device", "compile_helpers")) {
        if ((s = ctvk__key_int(c, "device", "compile_helpers", &x))) return s;
        o->compile_helpers = (int)x;
    }
    return CTVK_OK;
}

ctvk_status ctvk_config_foreach(const ctvk_config *c,
                                ctvk_status (*fn)(void *user, const char *section, const char *key, const char *value),
                                void *user)
{
    int ns = iniparser_getnsec(c->d);
    for (int i = 0; i < ns; i++) {
        const char *sec = iniparser_getsecname(c->d, i);
        if (!sec) continue;
        int nk = iniparser_getsecnkeys(c->d, sec);
        if (nk <= 0) {
            ctvk_status s = fn(user, sec, NULL, NULL);
            if (s) return s;
            continue;
        }
        const char **keys = malloc((size_t)nk * sizeof *keys);
        if (!keys) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
        if (!iniparser_getseckeys(c->d, sec, keys)) { free(keys); continue; }
        for (int k = 0; k < nk; k++) {
            const char *full = keys[k], *colon = strchr(full, ':');
            ctvk_status s = fn(user, sec, colon ? colon + 1 : full, iniparser_getstring(c->d, full, ""));
            if (s) { free(keys); return s; }
        }
        free(keys);
    }
    return CTVK_OK;
}

typedef struct { FILE *f; const char *last; } save_state;

static ctvk_status save_one(void *user, const char *section, const char *key, const char *value)
{
    save_state *st = user;
    if (!st->last || strcmp(st->last, section)) {
        fprintf(st->f, "%s[%s]\n", st->last ? "\n" : "", section);
        st->last = section;
    }
    if (!key) return CTVK_OK;
    char q = 0;
    if (!ini_writable(key, value, &q))   /* only what --set refuses could not be written: checked there */
        return ctvk__fail(CTVK_ERR_ARG, "[%s] %s: the value cannot be written into a config and read back", section, key);
    if (q) fprintf(st->f, "%s = %c%s%c\n", key, q, value, q);
    else fprintf(st->f, "%s = %s\n", key, value);
    return CTVK_OK;
}

ctvk_status ctvk_config_save(const ctvk_config *c, const char *path)
{
    char tmp[4200];
    FILE *f;
    CTVK_TRY(ctvk__open_tmp(path, tmp, sizeof tmp, &f));   /* a name of this process: ranks may race */
    /* the comment names the source in one line a config may hold */
    char from[600];
    snprintf(from, sizeof from, "%s", c->path);
    if (strlen(c->path) >= sizeof from) memcpy(from + sizeof from - 4, "...", 4);
    for (char *p = from; *p; p++) if (*p == '\n' || *p == '\r') *p = '?';
    fprintf(f, "; effective configuration (from %s and --set overrides)\n", from);
    save_state st = {f, NULL};
    ctvk_status s = ctvk_config_foreach(c, save_one, &st);
    if (s) {
        fclose(f);
        remove(tmp);
        return s;
    }
    return ctvk__close_commit(f, tmp, path);
}
