/* The model identity (include/ctvk/identity.h): SHA-256 (OpenSSL) against the FIPS 180-4 example
 * vectors, of memory and of files (several read chunks); the identity of a checkpoint inside and
 * outside a run folder (training config, its hash and seed found or not available); a missing
 * checkpoint fails naming it. On a thread (ctvk_model_identity_start) the identity is the same, and
 * the SHA-256 is remembered in the cache folder once the file has settled (2 s), taken while the
 * file is unchanged, computed again when only its times were touched or it was replaced. */
#include "check.h"
#include "ctvk/checkpoint.h"
#include "ctvk/identity.h"
#include "ctvk/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

static int write_file(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(d, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static void sha256(void)
{
    /* FIPS 180-4 / NIST CSRC example values: "abc", the 448-bit message, one million 'a', and "" */
    const char *msg[3] = {"abc", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", ""};
    const char *want[3] = {"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                           "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
                           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"};
    char hex[65];
    for (int i = 0; i < 3; i++)
        CHECK(ctvk_sha256_hex(msg[i], strlen(msg[i]), hex) == CTVK_OK && !strcmp(hex, want[i]), "SHA-256(\"%s\") = %s", msg[i],
              hex);
    size_t n = 1000000;
    char *a = malloc(n);
    memset(a, 'a', n);
    const char *mil = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    CHECK(ctvk_sha256_hex(a, n, hex) == CTVK_OK && !strcmp(hex, mil), "SHA-256(10^6 x 'a') = %s", hex);
    char *dir = check_tmpdir("identity"), path[4200];
    snprintf(path, sizeof path, "%s/a.bin", dir);
    CHECK(write_file(path, a, n), "write");
    CHECK(ctvk_sha256_file(path, hex) == CTVK_OK && !strcmp(hex, mil), "file of 10^6 x 'a' (16 chunks): %s", hex);
    snprintf(path, sizeof path, "%s/empty.bin", dir);
    CHECK(write_file(path, "", 0) && ctvk_sha256_file(path, hex) == CTVK_OK && !strcmp(hex, want[2]), "empty file");
    snprintf(path, sizeof path, "%s/none.bin", dir);
    CHECK(ctvk_sha256_file(path, hex) == CTVK_ERR_IO && strstr(ctvk_error(), "none.bin"), "missing file: %s", ctvk_error());
    free(a);
    check_remove_tree(dir);
}

static int fixture(const char *path)
{
    ctvk_model_config mc;
    check_tiny_resnet(&mc, 16);
    return check_write_checkpoint(path, &mc) == CTVK_OK;
}

static void identity(void)
{
    char *dir = check_tmpdir("identity"), run[4200], ck[4300], cfg[4300], loose[4300], hex[65];
    snprintf(run, sizeof run, "%s/run", dir);
    mkdir(run, 0777);
    snprintf(ck, sizeof ck, "%s/fold3", run);
    mkdir(ck, 0777);
    snprintf(ck, sizeof ck, "%s/fold3/best.ckpt", run);
    snprintf(cfg, sizeof cfg, "%s/config.ini", run);
    snprintf(loose, sizeof loose, "%s/model.ckpt", dir);
    CHECK(fixture(ck) && fixture(loose), "fixture checkpoints: %s", ctvk_error());
    const char *ini = "[train]\nseed = 42\n";
    CHECK(write_file(cfg, ini, strlen(ini)), "config.ini");
    ctvk_model_identity id;
    CHECK(ctvk_model_identity_get(ck, "testdev", &id) == CTVK_OK, "identity: %s", ctvk_error());
    CHECK(ctvk_sha256_file(ck, hex) == CTVK_OK && !strcmp(id.checkpoint_sha256, hex), "checkpoint SHA-256 %s", id.checkpoint_sha256);
    CHECK(!strcmp(id.arch, "small_resnet") && id.height == 16 && !strcmp(id.device, "testdev") &&
          !strcmp(id.version, ctvk_version()) && !strcmp(ctvk_version(), "0.1.0"), "arch, size, device, version");
    CHECK(!strcmp(id.train_config, cfg) && id.has_seed && id.train_seed == 42, "training config %s, seed %llu", id.train_config,
          (unsigned long long)id.train_seed);
    CHECK(ctvk_sha256_hex(ini, strlen(ini), hex) == CTVK_OK && !strcmp(id.train_config_sha256, hex), "config SHA-256");
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    ctvk_model_identity_json(m, &id);
    ctvk_model_identity_text(m, &id);
    fclose(m);
    CHECK(buf && strstr(buf, "\"train_seed\": 42") && strstr(buf, "\"notice\": \"research use only, not for diagnosis\"") &&
          strstr(buf, "notice: research use only, not for diagnosis\n"), "JSON and text carry the seed and the notice");
    free(buf);
    CHECK(ctvk_model_identity_get(loose, NULL, &id) == CTVK_OK && !*id.train_config && !id.has_seed &&
          !strcmp(id.device, "unknown"), "outside a run folder: no training config");
    snprintf(cfg, sizeof cfg, "%s/fold3/none.ckpt", run);
    CHECK(ctvk_model_identity_get(cfg, NULL, &id) != CTVK_OK && strstr(ctvk_error(), "none.ckpt"), "missing checkpoint: %s",
          ctvk_error());

    /* on a thread of its own (infer): the same identity, the thread's failure in the caller's words */
    ctvk_model_identity want, got;
    ctvk_identity_job *job = NULL;
    char cache[4300];
    snprintf(cache, sizeof cache, "%s/cache", dir);
    mkdir(cache, 0777);
    CHECK(ctvk_model_identity_get(ck, "testdev", &want) == CTVK_OK, "identity: %s", ctvk_error());
    memset(&got, 0x5a, sizeof got);
    CHECK(ctvk_model_identity_start(ck, "", &job) == CTVK_OK && job, "start: %s", ctvk_error());
    CHECK(ctvk_model_identity_finish(job, "testdev", &got) == CTVK_OK && !memcmp(&got, &want, sizeof got),
          "a job's identity is ctvk_model_identity_get's (SHA-256 %.12s, seed %llu)", got.checkpoint_sha256,
          (unsigned long long)got.train_seed);
    CHECK(ctvk_model_identity_start(cfg, cache, &job) == CTVK_OK, "start: %s", ctvk_error());
    (void)ctvk_fail(CTVK_OK, "%s", "no error yet");
    CHECK(ctvk_model_identity_finish(job, NULL, &got) != CTVK_OK && strstr(ctvk_error(), "none.ckpt"),
          "a job's missing checkpoint fails in finish, naming it: %s", ctvk_error());
    CHECK(ctvk_model_identity_start(ck, cache, &job) == CTVK_OK, "start: %s", ctvk_error());
    CHECK(ctvk_model_identity_finish(job, NULL, NULL) == CTVK_OK && ctvk_model_identity_finish(NULL, NULL, NULL) == CTVK_OK,
          "an error path only waits and frees the job (ASan: nothing leaks)");

    /* remembered: not while the file is fresh; once settled, taken while it is unchanged */
    CHECK(fixture(ck), "the checkpoint written again: fresh");
    int r[3] = {-1, -1, -1};
    for (int i = 0; i < 3; i++) {
        if (i == 1) nanosleep(&(struct timespec){2, 200000000}, NULL);   /* the checkpoint settles */
        CHECK(ctvk_model_identity_start(ck, cache, &job) == CTVK_OK &&
              ctvk_model_identity_finish(job, "testdev", &got) == CTVK_OK && !strcmp(got.checkpoint_sha256, want.checkpoint_sha256),
              "job %d: the SHA-256", i);
        r[i] = got.checkpoint_sha256_remembered;
    }
    CHECK(r[0] == 0 && r[1] == 0 && r[2] == 1, "fresh: computed (%d); settled: computed and remembered (%d), then taken (%d)",
          r[0], r[1], r[2]);
    struct stat st;
    CHECK(stat(ck, &st) == 0, "stat");
    struct timespec same[2] = {st.st_atim, st.st_mtim};
    CHECK(utimensat(AT_FDCWD, ck, same, 0) == 0, "utimensat");   /* the times put back: the change time moves */
    CHECK(ctvk_model_identity_start(ck, cache, &job) == CTVK_OK && ctvk_model_identity_finish(job, NULL, &got) == CTVK_OK &&
          !got.checkpoint_sha256_remembered && !strcmp(got.checkpoint_sha256, want.checkpoint_sha256),
          "touched: computed again (%d)", got.checkpoint_sha256_remembered);
    nanosleep(&(struct timespec){2, 200000000}, NULL);
    for (int i = 0; i < 2; i++)   /* remembered again once settled */
        CHECK(ctvk_model_identity_start(ck, cache, &job) == CTVK_OK && ctvk_model_identity_finish(job, NULL, &got) == CTVK_OK &&
              got.checkpoint_sha256_remembered == i, "touched, settled: run %d remembered %d", i, got.checkpoint_sha256_remembered);
    char moved[4400];   /* replaced by a rename (another inode, as train writes checkpoints) */
    snprintf(moved, sizeof moved, "%s.new", ck);
    CHECK(fixture(moved) && rename(moved, ck) == 0, "replace %s", ck);
    CHECK(ctvk_model_identity_start(ck, cache, &job) == CTVK_OK && ctvk_model_identity_finish(job, NULL, &got) == CTVK_OK &&
          !got.checkpoint_sha256_remembered && !strcmp(got.checkpoint_sha256, want.checkpoint_sha256),
          "replaced: computed again (%d)", got.checkpoint_sha256_remembered);
    check_remove_tree(dir);
}

int main(void)
{
    sha256();
    identity();
    return check_done("test_identity");
}
