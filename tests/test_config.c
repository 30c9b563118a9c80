/* Configs: integers are decimal (010 is 10, 08 is 8, 0x10 is refused, in integer and number keys);
 * a key given twice in one section and a line longer than a config line may hold are refused with
 * their line numbers; a folder or a FIFO given as the config is refused at once (no hang) saying what
 * it is; whatever ctvk_config_set accepts, ctvk_config_save writes so that ctvk_config_load reads
 * back exactly the same (long values, ';', '#', quotes, spaces, empty), and what it cannot write is
 * refused when it is set. */
#include "ctvk/config.h"
#include "tests/check.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[512];

static const char *write_ini(const char *name, const char *text)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void refused_load(const char *path, const char *want, const char *what)
{
    ctvk_config *c = NULL;
    ctvk_status s = ctvk_config_load(path, &c);
    CHECK(s != CTVK_OK && !c, "%s: loaded", what);
    CHECK(strstr(ctvk_error(), path) && strstr(ctvk_error(), want), "%s: '%s' lacks '%s'", what, ctvk_error(), want);
    printf("  %-26s -> %s\n", what, ctvk_error());
    if (!s) ctvk_config_free(c);
}

static void test_integers(void)
{
    const char *p = write_ini("ints.ini", "[train]\nepochs = 010\nbatch = 08\npatience = 0x10\nseed = -0\n"
                                          "lr = 0x1p-4\nmin_delta = 010.5\nmicro_batch = 99999999999999999999\n");
    ctvk_config *c;
    CHECK(ctvk_config_load(p, &c) == CTVK_OK, "load: %s", ctvk_error());
    long v = -1;
    double d = -1;
    CHECK(ctvk_config_int(c, "train", "epochs", 1, 0, 1000, &v) == CTVK_OK && v == 10, "epochs = 010 gives %ld", v);
    CHECK(ctvk_config_int(c, "train", "batch", 1, 0, 1000, &v) == CTVK_OK && v == 8, "batch = 08 gives %ld: %s", v,
          ctvk_error());
    CHECK(ctvk_config_int(c, "train", "patience", 1, 0, 1000, &v) == CTVK_ERR_ARG &&
          strstr(ctvk_error(), "[train] patience = '0x10' is not an integer (integers are written in decimal)"),
          "patience = 0x10: %s", ctvk_error());
    CHECK(ctvk_config_int(c, "train", "seed", 1, 0, 1000, &v) == CTVK_OK && v == 0, "seed = -0 gives %ld", v);
    CHECK(ctvk_config_double(c, "train", "lr", 1, 0, 1000, &d) == CTVK_ERR_ARG &&
          strstr(ctvk_error(), "[train] lr = '0x1p-4' is not a number"), "lr = 0x1p-4: %s", ctvk_error());
    CHECK(ctvk_config_double(c, "train", "min_delta", 1, 0, 1000, &d) == CTVK_OK && d == 10.5,
          "min_delta = 010.5 gives %g", d);
    CHECK(ctvk_config_int(c, "train", "micro_batch", 1, 0, 1000, &v) == CTVK_ERR_ARG &&
          strstr(ctvk_error(), "is out of range [0, 1000]"), "huge: %s", ctvk_error());
    ctvk_config_free(c);
}

static void test_refused_files(void)
{
    refused_load(write_ini("dup.ini", "[train]\nepochs = 1\n; a comment\n\nEpochs = 2\n"),
                 "[train] Epochs is given twice (lines 2 and 5): keep one", "a key twice");
    refused_load(write_ini("dup2.ini", "[train]\nlr = 1\n[model]\narch = small_resnet\n[TRAIN]\nlr=2\n"),
                 "[train] lr is given twice (lines 2 and 6)", "a key twice in two sections");
    char *big = malloc(3000);
    snprintf(big, 3000, "[data]\nroot = %01500d\n", 7);
    refused_load(write_ini("long.ini", big), "line 2 is longer than the 1022 bytes a config line may hold",
                 "a line too long");
    free(big);
    refused_load(dir, "cannot read it (it is a folder, not a config file)", "a folder");
    char fifo[600];
    snprintf(fifo, sizeof fifo, "%s/fifo.ini", dir);
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo");
    refused_load(fifo, "cannot read it (not a regular file)", "a FIFO");
    /* the same key in two different sections is fine, and so is a continued line */
    ctvk_config *c;
    CHECK(ctvk_config_load(write_ini("ok.ini", "[train]\nbatch = 2\n[eval]\nbatch = 3\n"), &c) == CTVK_OK,
          "two sections: %s", ctvk_error());
    ctvk_config_free(c);
}

static void round_trip(const char *value, int want_ok)
{
    ctvk_config *c, *back;
    CHECK(ctvk_config_load(NULL, &c) == CTVK_OK, "empty config");
    size_t n = strlen(value) + 32;
    char *a = malloc(n);
    snprintf(a, n, "data.root=%s", value);
    ctvk_status s = ctvk_config_set(c, a);
    char shown[40];
    snprintf(shown, sizeof shown, "%.30s", value);
    if (!want_ok) {
        CHECK(s == CTVK_ERR_ARG && strstr(ctvk_error(), "cannot be written into a config and read back"),
              "'%s' (%zu chars) accepted: %s", shown, strlen(value), ctvk_error());
    } else {
        CHECK(s == CTVK_OK, "set '%s': %s", shown, ctvk_error());
        char path[600];
        snprintf(path, sizeof path, "%s/saved.ini", dir);
        CHECK(ctvk_config_save(c, path) == CTVK_OK, "save: %s", ctvk_error());
        const char *got = NULL;
        CHECK(ctvk_config_load(path, &back) == CTVK_OK, "read back '%s' (%zu chars): %s", shown, strlen(value),
              ctvk_error());
        if (back) {
            ctvk_config_str(back, "data", "root", NULL, &got);
            CHECK(got && !strcmp(got, value), "'%s' (%zu chars) reads back as '%.40s'", shown, strlen(value),
                  got ? got : "(none)");
            ctvk_config_free(back);
        }
    }
    free(a);
    ctvk_config_free(c);
}

static void test_round_trip(void)
{
    char *v = malloc(1101);   /* values of up to 1100 characters and their NUL */
    const char *plain[] = {"/data/covid", "a;b", "a#b", " leading", "trailing ", "\"quoted\"", "'single'",
                           "it's", "say \"hi\"", "x = y", "", "back\\slash", "end\\", "ünïcödé", "a;b'c", NULL};
    for (int i = 0; plain[i]; i++) round_trip(plain[i], 1);
    for (int len = 900; len <= 1100; len += 50) {       /* the limit of a config line lies in there */
        memset(v, 'p', (size_t)len);
        v[len] = 0;
        round_trip(v, len <= 1000);
    }
    round_trip("two\nlines", 0);
    round_trip("\"both' quotes", 0);
    ctvk_config *c;
    CHECK(ctvk_config_load(NULL, &c) == CTVK_OK, "empty config");
    CHECK(ctvk_config_set(c, "da]ta.root=x") == CTVK_ERR_ARG && strstr(ctvk_error(), "section and key names"),
          "a bracket in the section: %s", ctvk_error());
    CHECK(ctvk_config_set(c, "data.ro ot=x") == CTVK_ERR_ARG, "a space in the key: %s", ctvk_error());
    ctvk_config_free(c);
    free(v);
}

/* [device] image_inputs: false, true (the default) or all; anything else refused, naming the key. */
static void test_image_inputs(void)
{
    const char *text[] = {"", "false", "true", "all", "ALL", "no", "sometimes"};
    const int want[] = {1, 0, 1, CTVK_IMAGE_INPUTS_ALL, CTVK_IMAGE_INPUTS_ALL, 0, -1};
    for (int i = 0; i < 7; i++) {
        char ini[96];
        snprintf(ini, sizeof ini, *text[i] ? "[device]\nimage_inputs = %s\n" : "%s", text[i]);
        ctvk_config *c;
        CHECK(ctvk_config_load(write_ini("img.ini", ini), &c) == CTVK_OK, "load: %s", ctvk_error());
        ctvk_options o;
        ctvk_options_default(&o);
        ctvk_status st = ctvk_config_device_options(c, &o);
        if (want[i] < 0)
            CHECK(st == CTVK_ERR_ARG && strstr(ctvk_error(), "image_inputs"), "image_inputs = %s accepted (%s)", text[i],
                  ctvk_error());
        else
            CHECK(st == CTVK_OK && o.image_inputs == want[i], "image_inputs = '%s': %d, want %d (%s)", text[i],
                  o.image_inputs, want[i], ctvk_error());
        ctvk_config_free(c);
    }
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s", check_tmpdir("config"));
    test_integers();
    test_refused_files();
    test_round_trip();
    test_image_inputs();
    return check_done("test_config");
}
