/* RenderDoc in-application capture. With options.renderdoc (or CTVK_RENDERDOC=1) the context
 * looks for RenderDoc's library, already loaded (the program was started from RenderDoc's UI or
 * with `renderdoccmd capture`) or loadable (librenderdoc.so on the library path), and brackets
 * the work between ctvk_capture_begin and ctvk_capture_end as one frame. The API table layout is
 * RenderDoc's stable in-application API, version 1.1.2. */
#include "runtime/vk/internal.h"
#include <dlfcn.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define RENDERDOC_API_1_1_2 10102

typedef void (*rdoc_frame_fn)(void *device, void *window);
typedef uint32_t (*rdoc_end_fn)(void *device, void *window);
typedef int (*rdoc_get_api_fn)(int version, void **out);

typedef void (*rdoc_path_fn)(const char *path_template);
typedef uint32_t (*rdoc_num_fn)(void);
typedef uint32_t (*rdoc_get_capture_fn)(uint32_t idx, char *filename, uint32_t *pathlength, uint64_t *timestamp);

/* Entries of the RenderDoc 1.1.2 table used here, by position. */
enum { RDOC_SET_PATH = 11, RDOC_NUM_CAPTURES = 13, RDOC_GET_CAPTURE = 14, RDOC_START_FRAME = 19,
       RDOC_END_FRAME = 21 };

/* Runs before the Vulkan instance exists: RenderDoc hooks Vulkan through its implicit layer,
 * which it only enables for instances created after its library is loaded with
 * ENABLE_VULKAN_RENDERDOC_CAPTURE=1 in the environment. */
void ctvk__renderdoc_init(ctvk_ctx *ctx)
{
    int want = ctx->opt.renderdoc;
    if (want < 0) {
        const char *e = getenv("CTVK_RENDERDOC");
        want = e && *e && strcmp(e, "0") != 0;
    }
    if (!want) return;
    void *lib = dlopen("librenderdoc.so", RTLD_NOW | RTLD_NOLOAD);
    if (!lib) {
        lib = dlopen("librenderdoc.so", RTLD_NOW);
        if (!lib) return;
        setenv("ENABLE_VULKAN_RENDERDOC_CAPTURE", "1", 0);
    }
    rdoc_get_api_fn get = (rdoc_get_api_fn)(uintptr_t)dlsym(lib, "RENDERDOC_GetAPI");
    void *api = NULL;
    if (!get || get(RENDERDOC_API_1_1_2, &api) != 1 || !api) return;
    ctx->rdoc_api = api;
    const char *dir = getenv("CTVK_RENDERDOC_DIR");
    if (dir && *dir) {
        char tmpl[4096];
        snprintf(tmpl, sizeof tmpl, "%s/ctvk", dir);
        ((rdoc_path_fn)(uintptr_t)((void **)api)[RDOC_SET_PATH])(tmpl);
    }
}

int ctvk_capture_available(const ctvk_ctx *ctx) { return ctx->rdoc_api != NULL; }

/* RenderDoc identifies a Vulkan instance by its dispatch table pointer. */
static void *rdoc_device(const ctvk_ctx *ctx) { return *(void **)ctx->instance; }

ctvk_status ctvk_capture_begin(ctvk_ctx *ctx)
{
    if (!ctx->rdoc_api || ctx->capturing) return CTVK_OK;
    CTVK_TRY(ctvk_sync(ctx));
    void **table = ctx->rdoc_api;
    ((rdoc_frame_fn)(uintptr_t)table[RDOC_START_FRAME])(rdoc_device(ctx), NULL);
    ctx->capturing = 1;
    return CTVK_OK;
}

ctvk_status ctvk_capture_end(ctvk_ctx *ctx)
{
    if (!ctx->rdoc_api || !ctx->capturing) return CTVK_OK;
    ctvk_status s = ctvk_sync(ctx);
    void **table = ctx->rdoc_api;
    uint32_t ok = ((rdoc_end_fn)(uintptr_t)table[RDOC_END_FRAME])(rdoc_device(ctx), NULL);
    ctx->capturing = 0;
    if (s) return s;
    if (!ok) return ctvk__fail(CTVK_ERR_VULKAN, "RenderDoc did not save the capture");
    uint32_t n = ((rdoc_num_fn)(uintptr_t)table[RDOC_NUM_CAPTURES])();
    uint32_t len = sizeof ctx->capture_path;
    if (n == 0 || !((rdoc_get_capture_fn)(uintptr_t)table[RDOC_GET_CAPTURE])(n - 1, NULL, &len, NULL) ||
        len > sizeof ctx->capture_path ||
        !((rdoc_get_capture_fn)(uintptr_t)table[RDOC_GET_CAPTURE])(n - 1, ctx->capture_path, &len, NULL))
        ctx->capture_path[0] = 0;
    return CTVK_OK;
}

const char *ctvk_capture_path(const ctvk_ctx *ctx) { return ctx->capture_path; }
