/* Every key a config may hold, with its type and range: ctvk_config_check refuses anything else,
 * naming the file, the section and the key. configs/README.md documents the same table. */
#include "ctvk/pipeline.h"
#include "runtime/internal.h"
#include "runtime/list.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { S_STR, S_INT, S_NUM, S_BOOL, S_ENUM, S_LIST } kind;

typedef struct key_spec {
    const char *section, *key;
    kind k;
    double lo, hi;
    const char *choices;     /* S_ENUM: "a|b|c" */
} key_spec;

static const key_spec SCHEMA[] = {
    {"data", "root", S_STR, 0, 0, NULL},
    {"data", "layout", S_ENUM, 0, 0, "flat|full"},
    {"data", "folds_dir", S_STR, 0, 0, NULL},
    {"data", "series_root", S_STR, 0, 0, NULL},
    {"data", "image_size", S_INT, 16, 4096, NULL},
    {"data", "resize", S_BOOL, 0, 0, NULL},
    {"data", "check_files", S_BOOL, 0, 0, NULL},
    {"data", "values", S_ENUM, 0, 0, "auto|stored|hu"},
    {"data", "hu_offset", S_INT, 1, 32768, NULL},
    {"data", "scale", S_NUM, -1e9, 1e9, NULL},
    {"data", "offset", S_NUM, -1e9, 1e9, NULL},
    {"data", "skip_bad", S_BOOL, 0, 0, NULL},
    {"data", "loader_threads", S_INT, 0, 64, NULL},
    {"selection", "region_y0", S_INT, 0, 512, NULL},
    {"selection", "region_y1", S_INT, 0, 512, NULL},
    {"selection", "region_x0", S_INT, 0, 512, NULL},
    {"selection", "region_x1", S_INT, 0, 512, NULL},
    {"selection", "dark_level", S_INT, 1, 65536, NULL},
    {"selection", "divisor", S_NUM, 1e-6, 1e6, NULL},
    {"selection", "group", S_ENUM, 0, 0, "sequence|patient"},
    {"model", "arch", S_ENUM, 0, 0, "resnet50|resnet50v2|resnet50v2_fpn|small_resnet"},
    {"model", "head", S_ENUM, 0, 0, "fpn|gap|none"},
    {"model", "input_size", S_INT, 8, 4096, NULL},
    {"model", "height", S_INT, 8, 4096, NULL},
    {"model", "width", S_INT, 8, 4096, NULL},
    {"model", "channels", S_INT, 1, 4, NULL},
    {"model", "classes", S_INT, 2, 1000, NULL},
    {"model", "dropout", S_NUM, 0, 0.95, NULL},
    {"model", "bn_eps", S_NUM, 1e-12, 1, NULL},
    {"model", "bn_momentum", S_NUM, 0, 1, NULL},
    {"model", "stages", S_INT, 1, 7, NULL},
    {"model", "blocks", S_LIST, 1, 16, NULL},
    {"model", "widths", S_LIST, 1, 1024, NULL},
    {"model", "weights", S_STR, 0, 0, NULL},
    {"model", "weights_partial", S_BOOL, 0, 0, NULL},
    {"model", "conv1_from_rgb", S_ENUM, 0, 0, "skip|sum"},
    {"train", "epochs", S_INT, 1, 100000, NULL},
    {"train", "batch", S_INT, 1, 4096, NULL},
    {"train", "lr", S_NUM, 0, 10, NULL},
    {"train", "beta1", S_NUM, 0, 1, NULL},
    {"train", "beta2", S_NUM, 0, 1, NULL},
    {"train", "epsilon", S_NUM, 0, 1, NULL},
    {"train", "schedule_decay", S_NUM, 0, 1, NULL},
    {"train", "seed", S_INT, 0, 9.2e18, NULL},
    {"train", "shuffle", S_BOOL, 0, 0, NULL},
    {"train", "validation", S_ENUM, 0, 0, "validation|test|none"},
    {"train", "early_stopping", S_BOOL, 0, 0, NULL},
    {"train", "patience", S_INT, 0, 100000, NULL},
    {"train", "min_delta", S_NUM, 0, 1e9, NULL},
    {"train", "max_steps_per_epoch", S_INT, 0, 1e9, NULL},
    {"train", "micro_batch", S_INT, 0, 4096, NULL},
    {"train", "sync_bn", S_BOOL, 0, 0, NULL},
    {"augment", "enabled", S_BOOL, 0, 0, NULL},
    {"augment", "rotation_range", S_NUM, 0, 360, NULL},
    {"augment", "shear_range", S_NUM, 0, 90, NULL},
    {"augment", "zoom_range", S_NUM, 0, 0.99, NULL},
    {"augment", "width_shift_range", S_NUM, 0, 1, NULL},
    {"augment", "height_shift_range", S_NUM, 0, 1, NULL},
    {"augment", "horizontal_flip", S_BOOL, 0, 0, NULL},
    {"augment", "vertical_flip", S_BOOL, 0, 0, NULL},
    {"augment", "legacy_centre", S_BOOL, 0, 0, NULL},
    {"eval", "batch", S_INT, 1, 4096, NULL},
    {"eval", "covid_fraction", S_NUM, 0, 1, NULL},
    {"eval", "selection", S_BOOL, 0, 0, NULL},
    {"eval", "bootstrap", S_INT, 0, 1000000, NULL},
    {"eval", "bootstrap_seed", S_INT, 0, 2147483647, NULL},
    {"device", "name", S_STR, 0, 0, NULL},
    {"device", "validation", S_BOOL, 0, 0, NULL},
    {"device", "profile", S_BOOL, 0, 0, NULL},
    {"device", "variant", S_ENUM, 0, 0, "auto|gpu|cpu"},
    {"device", "push_descriptors", S_BOOL, 0, 0, NULL},
    {"device", "limits", S_ENUM, 0, 0, "device|minimum"},
    {"device", "memory_limit_mb", S_INT, 0, 1 << 30, NULL},
    {"device", "max_dispatches_per_submit", S_INT, 0, 1 << 24, NULL},
    {"output", "dir", S_STR, 0, 0, NULL},
    {"output", "progress", S_ENUM, 0, 0, "auto|bar|lines|none"},
};

typedef struct { const ctvk_config *cfg; } check_ctx;

static ctvk_status check_one(void *user, const char *section, const char *key, const char *value)
{
    const ctvk_config *cfg = ((check_ctx *)user)->cfg;
    const char *path = ctvk_config_path(cfg);
    int known_section = 0;
    const key_spec *spec = NULL;
    for (size_t i = 0; i < sizeof SCHEMA / sizeof *SCHEMA; i++) {
        if (strcasecmp(SCHEMA[i].section, section)) continue;
        known_section = 1;
        if (key && !strcasecmp(SCHEMA[i].key, key)) spec = &SCHEMA[i];
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
    switch (spec->k) {
    case S_STR: return CTVK_OK;
    case S_INT: return ctvk_config_int(cfg, spec->section, spec->key, 0, (long)spec->lo, (long)spec->hi, &l);
    case S_NUM: return ctvk_config_double(cfg, spec->section, spec->key, 0, spec->lo, spec->hi, &d);
    case S_BOOL: return ctvk_config_bool(cfg, spec->section, spec->key, 0, &b);
    case S_ENUM: {
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
    case S_LIST: {
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
