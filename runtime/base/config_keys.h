/* Private: the one table of config keys (section, key, type, range, default, help). It drives the
 * schema check (ctvk_config_check), the readers' defaults and ranges (ctvk__key_* below), and
 * tests/test_config_table.c holds configs/README.md's key tables to it. */
#ifndef CTVK_RUNTIME_CONFIG_KEYS_H
#define CTVK_RUNTIME_CONFIG_KEYS_H
#include "ctvk/config.h"
#include <stddef.h>

typedef enum { CTVK__KEY_STR, CTVK__KEY_INT, CTVK__KEY_NUM, CTVK__KEY_BOOL, CTVK__KEY_ENUM, CTVK__KEY_LIST } ctvk__key_type;

typedef struct ctvk__key {
    const char *section, *key;
    ctvk__key_type type;
    double lo, hi;            /* INT, NUM: the value; LIST: each item */
    const char *choices;      /* ENUM: "a|b|c" */
    const char *def;          /* the default as configs/README.md writes it; NULL: none, or derived from other keys */
    const char *help;
} ctvk__key;

extern const ctvk__key ctvk__keys[];
extern const size_t ctvk__nkeys;

/* The key's row (case-insensitive), or NULL. */
const ctvk__key *ctvk__key_find(const char *section, const char *key);

/* Readers: the value of section.key with the table's range, and the table's default (the _or forms:
 * a default the reader derives, e.g. from the architecture). A key missing from the table is a
 * programming error reported as CTVK_ERR_ARG naming it. */
ctvk_status ctvk__key_int(const ctvk_config *cfg, const char *section, const char *key, long *out);
ctvk_status ctvk__key_int_or(const ctvk_config *cfg, const char *section, const char *key, long def, long *out);
ctvk_status ctvk__key_num(const ctvk_config *cfg, const char *section, const char *key, double *out);
ctvk_status ctvk__key_num_or(const ctvk_config *cfg, const char *section, const char *key, double def, double *out);
ctvk_status ctvk__key_bool(const ctvk_config *cfg, const char *section, const char *key, int *out);
/* STR and ENUM keys: the text, or the table's default (NULL when it has none). */
ctvk_status ctvk__key_str(const ctvk_config *cfg, const char *section, const char *key, const char **out);
#endif
