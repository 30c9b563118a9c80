/* ctvk_config_check: every key a config holds must be in the config table (runtime/base/config_keys.c)
 * with a value of its type and range; anything else is refused, naming the file, section and key. */
#include "ctvk/pipeline.h"
#include "runtime/base/config_keys.h"
#include "runtime/vk/internal.h"
#include "runtime/base/list.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct { const ctvk_config *cfg; } check_ctx;

static ctvk_status check_one(void *user, const char *section, const char *key, const char *value)
{
    const ctvk_config *cfg = ((check_ctx *)user)->cfg;
    const char *path = ctvk_config_path(cfg);
    int known_section = 0;
    const ctvk__key *spec = NULL;
    for (size_t i = 0; i < ctvk__nkeys; i++) {
        if (strcasecmp(ctvk__keys[i].section, section)) continue;
        known_section = 1;
        if (key && !strcasecmp(ctvk__keys[i].key, key)) spec = &ctvk__keys[i];
    }
    if (!known_section)
        return ctvk__fail(CTVK_ERR_ARG, "config %s: unknown section [%s] (known: data, selection, model, train, "
                          "augment, eval, device, output)", path, section);
    if (!key) return CTVK_OK;
    if (!spec) return ctvk__fail(CTVK_ERR_ARG, "config %s: [%s] %s is not a known key (see configs/README.md)", path,
                                 section, key);
    long l;
    double d;
    int b;
    switch (spec->type) {
    case CTVK__KEY_STR: return CTVK_OK;
    case CTVK__KEY_INT: return ctvk_config_int(cfg, spec->section, spec->key, 0, (long)spec->lo, (long)spec->hi, &l);
    case CTVK__KEY_NUM: return ctvk_config_double(cfg, spec->section, spec->key, 0, spec->lo, spec->hi, &d);
    case CTVK__KEY_BOOL: return ctvk_config_bool(cfg, spec->section, spec->key, 0, &b);
    case CTVK__KEY_ENUM: {
        const char *c = spec->choices;
        size_t n = strlen(value);
        while (c && *c) {
            const char *bar = strchr(c, '|');
            size_t len = bar ? (size_t)(bar - c) : strlen(c);
            if (len == n && !strncasecmp(c, value, n)) return CTVK_OK;
            c = bar ? bar + 1 : NULL;
        }
        return ctvk__fail(CTVK_ERR_ARG, "config %s: [%s] %s = '%s': expected one of %s", path, section, key, value,
                          spec->choices);
    }
    case CTVK__KEY_LIST: {
        int items[7];
        if (ctvk__parse_ints(value, items, 7, (long)spec->lo, (long)spec->hi) < 0)
            return ctvk__fail(CTVK_ERR_ARG, "config %s: [%s] %s = '%s': expected up to 7 integers in [%g, %g] "
                              "separated by commas", path, section, key, value, spec->lo, spec->hi);
        return CTVK_OK;
    }
    }
    return CTVK_OK;
}

ctvk_status ctvk_config_check(const ctvk_config *cfg)
{
    check_ctx c = {cfg};
    return ctvk_config_foreach(cfg, check_one, &c);
}
