/* INI configs through iniparser, with "section.key=value" overrides and checked getters. */
#include "ctvk/config.h"
#include "runtime/fileio.h"
#include "runtime/internal.h"
#include <errno.h>
#include <iniparser.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

struct ctvk_config {
    dictionary *d;
    char *path;
};

ctvk_status ctvk_config_load(const char *path, ctvk_config **out)
{
    *out = NULL;
    ctvk_config *c = calloc(1, sizeof *c);
    if (!c) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory reading config");
    if (path) {
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(c);
            return ctvk__fail(CTVK_ERR_IO, "config %s: cannot read it (%s)", path,
                              errno ? strerror(errno) : "not a regular file");
        }
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
    char *end;
    errno = 0;
    long x = strtol(v, &end, 0);
    while (*end == ' ' || *end == '\t') end++;
    if (errno || end == v || *end)
        return ctvk__fail(CTVK_ERR_ARG, "config %s: [%s] %s = '%s' is not an integer", c->path, section, key, v);
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
    double x = strtod(v, &end);
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
        if ((s = ctvk_config_bool(c, "device", "validation", 0, &b))) return s;
        o->validation = b;
    }
    if (ctvk_config_has(c, "device", "profile")) {
        if ((s = ctvk_config_bool(c, "device", "profile", 0, &b))) return s;
        o->profile = b;
    }
    if (ctvk_config_has(c, "device", "push_descriptors")) {
        if ((s = ctvk_config_bool(c, "device", "push_descriptors", 1, &b))) return s;
        o->no_push_descriptors = !b;
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
        if ((s = ctvk_config_int(c, "device", "memory_limit_mb", 0, 0, 1L << 30, &x))) return s;
        o->memory_limit = (uint64_t)x << 20;
    }
    if (ctvk_config_has(c, "device", "max_dispatches_per_submit")) {
        if ((s = ctvk_config_int(c, "device", "max_dispatches_per_submit", 0, 0, 1 << 24, &x))) return s;
        o->max_dispatches_per_submit = (uint32_t)x;
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
    if (key) fprintf(st->f, "%s = %s\n", key, value);
    return CTVK_OK;
}

ctvk_status ctvk_config_save(const ctvk_config *c, const char *path)
{
    char tmp[4200];
    FILE *f;
    CTVK_TRY(ctvk__open_tmp(path, tmp, sizeof tmp, &f));   /* a name of this process: ranks may race */
    fprintf(f, "; effective configuration (from %s and --set overrides)\n", c->path);
    save_state st = {f, NULL};
    ctvk_status s = ctvk_config_foreach(c, save_one, &st);
    if (s) {
        fclose(f);
        remove(tmp);
        return s;
    }
    return ctvk__close_commit(f, tmp, path);
}
