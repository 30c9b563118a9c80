/* The config table (runtime/base/config_keys.c) against what documents and reads it:
 *  - configs/README.md: every key of the table is in its section's key table (or, for [device],
 *    named in the section) and every documented key is in the table; a documented default equals
 *    the table's (numbers compared as numbers);
 *  - the readers: the [model] and [device] readers accept each numeric key's range ends and refuse
 *    the values just outside (they take their ranges from the table); the schema check does the
 *    same for every key; a table default parses as the key's type and lies in its range. */
#include "check.h"
#include "ctvk/config.h"
#include "ctvk/net.h"
#include "ctvk/pipeline.h"
#include "runtime/base/config_keys.h"
#include "runtime/base/list.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAXDOC 256
typedef struct { char section[32], key[64], def[128]; int has_def; } doc_key;
static doc_key docs[MAXDOC];
static int ndocs;

static void add_doc(const char *section, const char *key, const char *def, int has_def)
{
    if (ndocs == MAXDOC) return;
    doc_key *d = &docs[ndocs++];
    snprintf(d->section, sizeof d->section, "%s", section);
    snprintf(d->key, sizeof d->key, "%s", key);
    snprintf(d->def, sizeof d->def, "%s", def ? def : "");
    d->has_def = has_def;
}

/* The `quoted` words of s, at most max. */
static int quoted(const char *s, char words[][128], int max)
{
    int n = 0;
    for (const char *p = strchr(s, '`'); p && n < max; p = strchr(p + 1, '`')) {
        const char *e = strchr(p + 1, '`');
        if (!e) break;
        snprintf(words[n++], 128, "%.*s", (int)(e - p - 1), p + 1);
        p = e;
    }
    return n;
}

/* The default cell split at commas outside `...`, each item trimmed and unquoted. */
static int split_defaults(const char *s, char items[][128], int max)
{
    int n = 0, in = 0;
    char cur[128];
    size_t k = 0;
    for (const char *p = s;; p++) {
        if (*p == '`') { in = !in; continue; }
        if ((*p == ',' && !in) || !*p) {
            while (k && cur[k - 1] == ' ') k--;
            cur[k] = 0;
            const char *b = cur;
            while (*b == ' ') b++;
            if (n < max) snprintf(items[n++], 128, "%s", b);
            k = 0;
            if (!*p) break;
            continue;
        }
        if (k < sizeof cur - 1) cur[k++] = *p;
    }
    return n;
}

static void read_readme(const char *path)
{
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot read %s", path);
    if (!f) return;
    char line[4096], section[32] = "";
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, "## [", 4)) {
            sscanf(line + 4, "%31[a-z]", section);
            continue;
        }
        if (line[0] == '#') { section[0] = 0; continue; }
        if (!section[0]) continue;
        char words[16][128];
        if (!strcmp(section, "device")) {      /* named in prose */
            int n = quoted(line, words, 16);
            for (int i = 0; i < n; i++) if (strcmp(words[i], "mpirun")) add_doc(section, words[i], NULL, 0);
            continue;
        }
        if (strncmp(line, "| `", 3)) continue;
        char *c1 = line + 1, *c2 = strchr(c1, '|');
        if (!c2) continue;
        *c2++ = 0;
        char *c3 = strchr(c2, '|');
        if (!c3) continue;
        *c3 = 0;
        int nk = quoted(c1, words, 16);
        char defs[16][128];
        int nd = split_defaults(c2, defs, 16);
        for (int i = 0; i < nk; i++) add_doc(section, words[i], nd == nk ? defs[i] : defs[0], nd == nk || nd == 1);
    }
    fclose(f);
}

static int same_value(const char *a, const char *b)
{
    char *ea, *eb;
    double x = strtod(a, &ea), y = strtod(b, &eb);
    if (ea != a && !*ea && eb != b && !*eb) return x == y;
    return !strcmp(a, b);
}

static void against_readme(void)
{
    const char *src = getenv("CTVK_SOURCE");
    char path[4096];
    snprintf(path, sizeof path, "%s/configs/README.md", src ? src : ".");
    read_readme(path);
    CHECK(ndocs > 50, "%d keys documented in %s", ndocs, path);
    for (size_t i = 0; i < ctvk__nkeys; i++) {
        const ctvk__key *k = &ctvk__keys[i];
        const doc_key *d = NULL;
        for (int j = 0; j < ndocs; j++)
            if (!strcmp(docs[j].section, k->section) && !strcmp(docs[j].key, k->key)) d = &docs[j];
        CHECK(d != NULL, "[%s] %s is in the table but not in configs/README.md", k->section, k->key);
        if (d && k->def && d->has_def && !strchr(d->def, ' ') && !strchr(d->def, '('))
            CHECK(same_value(k->def, d->def), "[%s] %s: default %s in the table, %s in configs/README.md", k->section,
                  k->key, k->def, d->def);
    }
    for (int j = 0; j < ndocs; j++)
        CHECK(ctvk__key_find(docs[j].section, docs[j].key) != NULL, "configs/README.md documents [%s] %s, which the "
              "table does not have", docs[j].section, docs[j].key);
}

/* A config holding only section.key = value. */
static ctvk_config *one(const char *section, const char *key, const char *value)
{
    ctvk_config *c;
    char set[512];
    if (ctvk_config_load(NULL, &c)) return NULL;
    snprintf(set, sizeof set, "%s.%s=%s", section, key, value);
    if (ctvk_config_set(c, set)) { ctvk_config_free(c); return NULL; }
    return c;
}

static int reads(const char *section, ctvk_config *c)
{
    if (!strcmp(section, "model")) {
        ctvk_model_config mc;
        return ctvk_model_config_load(c, &mc) == CTVK_OK;
    }
    ctvk_options o;
    ctvk_options_default(&o);
    return ctvk_config_device_options(c, &o) == CTVK_OK;
}

static void against_readers(void)
{
    for (size_t i = 0; i < ctvk__nkeys; i++) {
        const ctvk__key *k = &ctvk__keys[i];
        if (k->def) {      /* the default is a value of the key */
            ctvk_config *c = one(k->section, k->key, k->def);
            CHECK(c && ctvk_config_check(c) == CTVK_OK, "[%s] %s: the default '%s' fails the check: %s", k->section,
                  k->key, k->def, ctvk_error());
            ctvk_config_free(c);
        }
        if (k->type != CTVK__KEY_INT && k->type != CTVK__KEY_NUM) continue;
        int reader = !strcmp(k->section, "model") || !strcmp(k->section, "device");
        double step = k->type == CTVK__KEY_INT ? 1 : fmax(fabs(k->hi) * 1e-6, 1e-9);
        struct { double v; int ok; } cases[] = {{k->lo, 1}, {k->hi, 1}, {k->lo - step, 0}, {k->hi + step, 0}};
        for (int j = 0; j < 4; j++) {
            if (k->type == CTVK__KEY_INT && fabs(cases[j].v) > 9e18) continue;
            char v[64];
            if (k->type == CTVK__KEY_INT) snprintf(v, sizeof v, "%.0f", cases[j].v);
            else snprintf(v, sizeof v, "%.17g", cases[j].v);
            ctvk_config *c = one(k->section, k->key, v);
            if (!c) { CHECK(0, "config %s.%s=%s", k->section, k->key, v); continue; }
            CHECK((ctvk_config_check(c) == CTVK_OK) == cases[j].ok, "[%s] %s = %s: the check %s it", k->section, k->key,
                  v, cases[j].ok ? "refuses" : "accepts");
            if (reader && strcmp(k->key, "input_size"))
                CHECK(reads(k->section, c) == cases[j].ok, "[%s] %s = %s: the reader %s it (%s)", k->section, k->key, v,
                      cases[j].ok ? "refuses" : "accepts", ctvk_error());
            ctvk_config_free(c);
        }
    }
}

int main(void)
{
    against_readme();
    against_readers();
    return check_done("test_config_table");
}
