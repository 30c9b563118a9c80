/* INI configuration (iniparser) with command-line overrides.
 *
 * A config is an INI file of sections ([data], [selection], [model], [train], [augment], [eval],
 * [device], [output]) and keys; `--set section.key=value` overrides a key. Getters return the
 * default when a key is absent and fail with a message naming the file, section and key when a
 * value does not parse or is out of range. */
#ifndef CTVK_CONFIG_H
#define CTVK_CONFIG_H
#include "ctvk.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ctvk_config ctvk_config;

/* path may be NULL for an empty config (overrides still apply). */
ctvk_status ctvk_config_load(const char *path, ctvk_config **out);
/* "section.key=value" */
ctvk_status ctvk_config_set(ctvk_config *cfg, const char *assignment);
void ctvk_config_free(ctvk_config *cfg);
const char *ctvk_config_path(const ctvk_config *cfg);   /* "(no file)" when none */
int ctvk_config_has(const ctvk_config *cfg, const char *section, const char *key);

ctvk_status ctvk_config_str(const ctvk_config *cfg, const char *section, const char *key,
                            const char *def, const char **out);
ctvk_status ctvk_config_int(const ctvk_config *cfg, const char *section, const char *key,
                            long def, long lo, long hi, long *out);
ctvk_status ctvk_config_double(const ctvk_config *cfg, const char *section, const char *key,
                               double def, double lo, double hi, double *out);
ctvk_status ctvk_config_bool(const ctvk_config *cfg, const char *section, const char *key,
                             int def, int *out);

/* Calls fn for every key of every section, in file order ("section", "key", value). Stops at the
 * first non-zero status, which it returns. A section without keys is visited with key NULL. */
ctvk_status ctvk_config_foreach(const ctvk_config *cfg,
                                ctvk_status (*fn)(void *user, const char *section, const char *key, const char *value),
                                void *user);
/* Writes the effective config (file + overrides) as INI text, atomically. */
ctvk_status ctvk_config_save(const ctvk_config *cfg, const char *path);

/* Fills device options from [device] (name, validation, profile, variant, memory_limit_mb,
 * max_dispatches_per_submit, push_descriptors). Unset keys leave *o as it is. */
ctvk_status ctvk_config_device_options(const ctvk_config *cfg, ctvk_options *o);

#ifdef __cplusplus
}
#endif
#endif
