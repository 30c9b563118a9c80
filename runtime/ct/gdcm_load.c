/* The C side of the GDCM module (runtime/ct/gdcm_module.h): the functions of gdcm_io.h, each
 * loading libctvk-gdcm.so on first use. Where it is looked for, in order:
 *   $CTVK_GDCM_MODULE   a path, instead of the places below (a program of its own linked with
 *                       libctvk.a from a moved install; the tests' failure path)
 *   beside the running executable (the build tree: ctvk and the tests)
 *   the executable's folder/CTVK_GDCM_MODULE_REL (an installed tree, wherever it was moved)
 *   CTVK_GDCM_MODULE_DIR (the install prefix's: programs of their own linked with libctvk.a)
 * A module of another ctvk version or ABI is skipped, and when none loads, the call fails with
 * every place tried and why. A failed load is tried again on the next call; a loaded one stays. */
#include "runtime/ct/gdcm_module.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CTVK_VERSION_STRING
#define CTVK_VERSION_STRING "unknown"
#endif
#ifndef CTVK_GDCM_MODULE_REL
#define CTVK_GDCM_MODULE_REL "../lib/ctvk"
#endif
#ifndef CTVK_GDCM_MODULE_DIR
#define CTVK_GDCM_MODULE_DIR "/usr/local/lib/ctvk"
#endif
#define MODULE_FILE "libctvk-gdcm.so"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static const ctvk_gdcm_table *g_table;

/* Appends "; " and the printf'd text to the message in err. */
static void add(char *err, size_t n, const char *fmt, const char *a, const char *b)
{
    size_t k = strlen(err);
    if (k + 3 < n) snprintf(err + k, n - k, fmt, k ? "; " : "", a, b);
}

/* Loads the module at path: its table, or NULL with why in err. */
static const ctvk_gdcm_table *try_path(const char *path, char *err, size_t n)
{
    if (access(path, F_OK) != 0) {
        add(err, n, "%s%s: %s", path, "no such file");
        return NULL;
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        add(err, n, "%s%s: %s", path, why ? why : "dlopen failed");
        return NULL;
    }
    ctvk_gdcm_module_fn get;
    void *sym = dlsym(h, CTVK_GDCM_MODULE_SYMBOL);
    memcpy(&get, &sym, sizeof get);   /* POSIX: a function's address through void * */
    const ctvk_gdcm_table *t = sym ? get() : NULL;
    if (!t || t->abi != CTVK_GDCM_ABI || t->header_size != sizeof(ctvk_gdcm_header) ||
        t->slice_size != sizeof(ctvk_gdcm_slice) || !t->version || strcmp(t->version, CTVK_VERSION_STRING)) {
        add(err, n, "%s%s: %s", path, !t ? "not a ctvk GDCM module" : "a module of another ctvk version");
        dlclose(h);
        return NULL;
    }
    return t;   /* never closed: GDCM's globals live until exit */
}

static const ctvk_gdcm_table *module(char *err, size_t n)
{
    pthread_mutex_lock(&g_lock);
    const ctvk_gdcm_table *t = g_table;
    if (!t) {
        char tried[3072] = "", exe[4096], path[4300];
        const char *env = getenv("CTVK_GDCM_MODULE");
        if (env && *env) {   /* a path, never a name for dlopen's library search */
            snprintf(path, sizeof path, "%s%s", strchr(env, '/') ? "" : "./", env);
            t = try_path(path, tried, sizeof tried);
        } else {
            ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
            char *slash = k > 0 ? (exe[k] = 0, strrchr(exe, '/')) : NULL;
            if (slash) {
                *slash = 0;
                snprintf(path, sizeof path, "%s/" MODULE_FILE, exe);
                t = try_path(path, tried, sizeof tried);
                snprintf(path, sizeof path, "%s/" CTVK_GDCM_MODULE_REL "/" MODULE_FILE, exe);
                if (!t) t = try_path(path, tried, sizeof tried);
            }
            if (!t) t = try_path(CTVK_GDCM_MODULE_DIR "/" MODULE_FILE, tried, sizeof tried);
        }
        if (!t)
            snprintf(err, n, "DICOM needs ctvk's GDCM module " MODULE_FILE ", which did not load (%s): build "
                     "ctvk again, or install it (cmake --install puts it in <libdir>/ctvk), or name it in "
                     "CTVK_GDCM_MODULE", tried);
        g_table = t;
    }
    pthread_mutex_unlock(&g_lock);
    return t;
}

int ctvk_gdcm_read_header(const char *path, ctvk_gdcm_header *h, char *err, size_t errsize)
{
    const ctvk_gdcm_table *t = module(err, errsize);
    return t ? t->read_header(path, h, err, errsize) : -1;
}

int ctvk_gdcm_read_image(const char *path, ctvk_gdcm_header *h, void **pixels, int *type, char *err, size_t errsize)
{
    const ctvk_gdcm_table *t = module(err, errsize);
    return t ? t->read_image(path, h, pixels, type, err, errsize) : -1;
}

int ctvk_gdcm_write(const char *path, const ctvk_gdcm_slice *s, const void *pixels, char *err, size_t errsize)
{
    const ctvk_gdcm_table *t = module(err, errsize);
    return t ? t->write(path, s, pixels, err, errsize) : -1;
}

int ctvk_gdcm_loaded(void)
{
    pthread_mutex_lock(&g_lock);
    int on = g_table != NULL;
    pthread_mutex_unlock(&g_lock);
    return on;
}
