/* The SPIR-V of every shaders/NAME.comp, embedded at build time (see CMakeLists.txt). */
#ifndef CTVK_RUNTIME_SHADERS_EMBED_H
#define CTVK_RUNTIME_SHADERS_EMBED_H
#include <stddef.h>
#include <stdint.h>

typedef struct ctvk_embedded_shader {
    const char *name;         /* file name without .comp */
    const uint32_t *code;
    size_t size;              /* bytes */
} ctvk_embedded_shader;

/* Terminated by an entry whose name is NULL. */
extern const ctvk_embedded_shader ctvk_embedded_shaders[];
#endif
