/* The model identity of a decision (include/ctvk/identity.h). */
#include "ctvk/identity.h"
#include "ctvk/checkpoint.h"
#include "ctvk/config.h"
#include "runtime/base/config_keys.h"
#include "runtime/base/fileio.h"
#include "runtime/vk/internal.h"
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef CTVK_VERSION_STRING
#define CTVK_VERSION_STRING "unknown"
#endif

const char *ctvk_version(void) { return CTVK_VERSION_STRING; }

static void hex32(const unsigned char *d, char hex[65])
{
    static const char h[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) hex[2 * i] = h[d[i] >> 4], hex[2 * i + 1] = h[d[i] & 15];
    hex[64] = 0;
}

ctvk_status ctvk_sha256_hex(const void *data, size_t n, char hex[65])
{
    unsigned char d[32];
    unsigned int len = 0;
    if (!EVP_Digest(data, n, d, &len, EVP_sha256(), NULL) || len != 32)
        return ctvk__fail(CTVK_ERR_UNSUPPORTED, "SHA-256: OpenSSL's EVP_Digest failed");
    hex32(d, hex);
    return CTVK_OK;
}

/* SHA-256 of what is left to read of f (path names it in errors). */
static ctvk_status sha256_stream(FILE *f, const char *path, char hex[65])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    ctvk_status s = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) ? CTVK_OK
                  : ctvk__fail(CTVK_ERR_UNSUPPORTED, "SHA-256 of %s: OpenSSL could not start a digest", path);
    unsigned char buf[65536];
    size_t k;
    while (s == CTVK_OK && (k = fread(buf, 1, sizeof buf, f)) > 0)
        if (!EVP_DigestUpdate(c, buf, k)) s = ctvk__fail(CTVK_ERR_UNSUPPORTED, "SHA-256 of %s: digest update failed", path);
    if (s == CTVK_OK && ferror(f)) s = ctvk__fail(CTVK_ERR_IO, "%s: read error", path);
    unsigned char d[32];
    unsigned int len = 0;
    if (s == CTVK_OK && (!EVP_DigestFinal_ex(c, d, &len) || len != 32))
        s = ctvk__fail(CTVK_ERR_UNSUPPORTED, "SHA-256 of %s: digest failed", path);
    if (s == CTVK_OK) hex32(d, hex);
    EVP_MD_CTX_free(c);
    return s;
}

#define SHA_FACT "SHA-256"

/* ctvk_sha256_file, remembered in cache folder dir (NULL: not) for the rest of the boot while the
 * file is unchanged (runtime/base/facts.c): the stamp is taken before the file is read and must be
 * the same after, and a file that had changed less than 2 s before it was read (one being written;
 * file systems with coarse times) is not remembered. *remembered: 1 when the value came from the folder. */
static ctvk_status sha256_remembered(const char *path, const char *dir, char hex[65], int *remembered)
{
    *remembered = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ctvk__fail(CTVK_ERR_IO, "%s: cannot read (%s)", path, strerror(errno));
    ctvk_stamp before, after;
    int stamped = dir && ctvk__stamp(fileno(f), &before) == 0;
    if (stamped && ctvk__fact_get(dir, SHA_FACT, &before, hex, 65) && strlen(hex) == 64 &&
        strspn(hex, "0123456789abcdef") == 64) {
        fclose(f);
        *remembered = 1;
        return CTVK_OK;
    }
    int settled = stamped && ctvk__stamp_settled(&before, 2.0);   /* settled before the first byte is read */
    ctvk_status s = sha256_stream(f, path, hex);
    if (s == CTVK_OK && settled && ctvk__stamp(fileno(f), &after) == 0 && !memcmp(&before, &after, sizeof before))
        ctvk__fact_put(dir, SHA_FACT, &after, hex);
    fclose(f);
    return s;
}

ctvk_status ctvk_sha256_file(const char *path, char hex[65])
{
    int remembered;
    return sha256_remembered(path, NULL, hex, &remembered);
}

/* The part of the identity read through HDF5, which Debian builds without thread safety: only ever
 * on the caller's thread, never on the job's (the caller reads HDF5 files meanwhile). */
static ctvk_status identity_model(const char *ckpt, ctvk_model_identity *id)
{
    memset(id, 0, sizeof *id);
    ctvk_model_config mc;
    CTVK_TRY(ctvk_checkpoint_peek_config(ckpt, &mc));
    snprintf(id->arch, sizeof id->arch, "%s", mc.arch);
    id->height = mc.height, id->width = mc.width;
    snprintf(id->checkpoint, sizeof id->checkpoint, "%s", ckpt);
    return CTVK_OK;
}

/* The rest, plain file reads (any thread): the SHA-256 (remembered in folder facts, NULL: not),
 * the version, the device, the training config. */
static ctvk_status identity_files(const char *ckpt, const char *device, const char *facts, ctvk_model_identity *id)
{
    CTVK_TRY(sha256_remembered(ckpt, facts, id->checkpoint_sha256, &id->checkpoint_sha256_remembered));
    snprintf(id->version, sizeof id->version, "%s", ctvk_version());
    snprintf(id->device, sizeof id->device, "%s", device && *device ? device : "unknown");
    /* RUN/foldK/x.ckpt -> RUN/config.ini */
    char dir[4096], cfgpath[4200];
    snprintf(dir, sizeof dir, "%s", ckpt);
    char *slash = strrchr(dir, '/');
    if (!slash) return CTVK_OK;               /* ./x.ckpt: not inside a foldK folder */
    *slash = 0;
    slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : dir;
    if (strncmp(base, "fold", 4) || !base[4] || strspn(base + 4, "0123456789") != strlen(base + 4)) return CTVK_OK;
    if (slash) {
        *slash = 0;
        snprintf(cfgpath, sizeof cfgpath, "%s/config.ini", *dir ? dir : "/");
    } else snprintf(cfgpath, sizeof cfgpath, "config.ini");
    struct stat st;
    if (stat(cfgpath, &st) != 0 || !S_ISREG(st.st_mode)) return CTVK_OK;
    ctvk_config *cfg = NULL;
    long seed;
    char hex[65];
    if (ctvk_sha256_file(cfgpath, hex) == CTVK_OK && ctvk_config_load(cfgpath, &cfg) == CTVK_OK &&
        ctvk__key_int(cfg, "train", "seed", &seed) == CTVK_OK) {
        snprintf(id->train_config, sizeof id->train_config, "%s", cfgpath);
        memcpy(id->train_config_sha256, hex, sizeof hex);
        id->has_seed = 1, id->train_seed = (uint64_t)seed;
    }
    ctvk_config_free(cfg);
    ctvk__clear_error();
    return CTVK_OK;
}

ctvk_status ctvk_model_identity_get(const char *ckpt, const char *device, ctvk_model_identity *id)
{
    CTVK_TRY(identity_model(ckpt, id));
    return identity_files(ckpt, device, NULL, id);
}

struct ctvk_identity_job {
    char *ckpt, *dir;
    pthread_t thread;
    int started;
    ctvk_status status;
    char error[CTVK_ERROR_MAX];   /* the thread's message (errors are per thread) */
    ctvk_model_identity id;
};

static void *identity_main(void *arg)
{
    ctvk_identity_job *j = arg;
    j->status = identity_files(j->ckpt, NULL, j->dir, &j->id);
    if (j->status) snprintf(j->error, sizeof j->error, "%s", ctvk_error());
    return NULL;
}

ctvk_status ctvk_model_identity_start(const char *ckpt, const char *cache_dir, ctvk_identity_job **job)
{
    ctvk_identity_job *j = calloc(1, sizeof *j);
    if (j) j->ckpt = strdup(ckpt);
    if (j) j->dir = ctvk__cache_folder(cache_dir);   /* NULL: none, the SHA-256 is computed */
    if (!j || !j->ckpt) {
        if (j) free(j->dir);
        free(j);
        *job = NULL;
        return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    }
    *job = j;
    j->status = identity_model(ckpt, &j->id);   /* here: HDF5 is not thread safe */
    if (j->status) snprintf(j->error, sizeof j->error, "%s", ctvk_error());   /* reported by finish */
    else j->started = pthread_create(&j->thread, NULL, identity_main, j) == 0;
    return CTVK_OK;
}

ctvk_status ctvk_model_identity_finish(ctvk_identity_job *j, const char *device, ctvk_model_identity *id)
{
    if (!j) return CTVK_OK;
    if (j->started) pthread_join(j->thread, NULL);
    else if (id && !j->status) identity_main(j);
    ctvk_status s = j->status;
    if (id && s) s = ctvk__fail(s, "%s", j->error);
    else if (id) {
        *id = j->id;
        snprintf(id->device, sizeof id->device, "%s", device && *device ? device : "unknown");
    }
    free(j->ckpt);
    free(j->dir);
    free(j);
    return id ? s : CTVK_OK;
}

static void jstr(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

void ctvk_model_identity_json(FILE *f, const ctvk_model_identity *id)
{
    fputs("\"model\": {\"arch\": ", f);
    jstr(f, id->arch);
    fprintf(f, ", \"input\": [%d, %d], \"checkpoint\": ", id->height, id->width);
    jstr(f, id->checkpoint);
    fprintf(f, ", \"checkpoint_sha256\": \"%s\", \"train_config\": ", id->checkpoint_sha256);
    if (*id->train_config) {
        jstr(f, id->train_config);
        fprintf(f, ", \"train_config_sha256\": \"%s\", \"train_seed\": %llu", id->train_config_sha256,
                (unsigned long long)id->train_seed);
    } else fputs("null, \"train_config_sha256\": null, \"train_seed\": null", f);
    fputs(", \"ctvk_version\": ", f);
    jstr(f, id->version);
    fputs(", \"device\": ", f);
    jstr(f, id->device);
    fputs("}, \"notice\": \"" CTVK_NOTICE "\"", f);
}

void ctvk_model_identity_text(FILE *f, const ctvk_model_identity *id)
{
    fprintf(f, "model: %s %dx%d, checkpoint %s (SHA-256 %s)\n", id->arch, id->height, id->width, id->checkpoint,
            id->checkpoint_sha256);
    if (*id->train_config)
        fprintf(f, "trained with: %s (SHA-256 %s), seed %llu\n", id->train_config, id->train_config_sha256,
                (unsigned long long)id->train_seed);
    else fprintf(f, "trained with: not available (the checkpoint is not in a run folder RUN/foldK/)\n");
    fprintf(f, "ctvk %s on %s\n", id->version, id->device);
    fprintf(f, "notice: " CTVK_NOTICE "\n");
}
