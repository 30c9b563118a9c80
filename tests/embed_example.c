/* A program that embeds ctvk through its installed headers and pkg-config file (used by
 * tests/cli_install.sh): it opens the default device and runs one kernel. */
#include <ctvk/ctvk.h>
#include <ctvk/net.h>
#include <stdio.h>

int main(void)
{
    ctvk_options o;
    ctvk_options_default(&o);
    ctvk_ctx *ctx;
    if (ctvk_create(&o, &ctx)) { fprintf(stderr, "embed: %s\n", ctvk_error()); return 1; }
    ctvk_tensor *t;
    float v[5];
    ctvk_shape s = {1, 1, 1, 5};
    if (ctvk_tensor_create(ctx, CTVK_F32, s, "t", &t) || ctvk_fill(ctx, t, 4.5f) ||
        ctvk_tensor_download(t, v, sizeof v)) {
        fprintf(stderr, "embed: %s\n", ctvk_error());
        return 1;
    }
    printf("embed: %s computed %g\n", ctvk_device(ctx)->name, v[4]);
    ctvk_tensor_destroy(t);
    ctvk_destroy(ctx);
    return v[4] == 4.5f ? 0 : 1;
}
