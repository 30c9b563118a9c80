/* Device memory: thousands of tensors of mixed sizes through the block sub-allocator (few
 * vkAllocateMemory calls, reuse, nothing left behind), views, the memory budget refusing work up
 * front with the sizes in the message, and an injected allocation failure. */
#include "tests/check.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 3000

int main(void)
{
    ctvk_ctx *ctx = check_ctx(NULL);
    ctvk_tensor **t = calloc(N, sizeof *t);
    uint64_t rng = 7;
    int created = 0;
    uint64_t max_blocks = 0;
    for (int round = 0; round < 3 * N; round++) {
        int i = (int)(check_rng_next(&rng) % N);
        if (t[i]) { ctvk_tensor_destroy(t[i]); t[i] = NULL; continue; }
        uint64_t r = check_rng_next(&rng);
        int c = (r & 7) == 0 ? 1 + (int)((r >> 8) % 200000) : 1 + (int)((r >> 8) % 2000);
        ctvk_shape s = {1, 1, 1, c};
        CHECK(ctvk_tensor_create(ctx, (r >> 60) & 1 ? CTVK_F16 : CTVK_F32, s, "stress", &t[i]) == CTVK_OK,
              "create %d: %s", c, ctvk_error());
        created++;
        ctvk_stats st;
        ctvk_get_stats(ctx, &st);
        if (st.device_memory_blocks > max_blocks) max_blocks = st.device_memory_blocks;
    }
    ctvk_stats st;
    ctvk_get_stats(ctx, &st);
    printf("memory: %d tensors created, %llu alive, at most %llu blocks, %.1f MiB in use, peak %.1f MiB\n", created,
           (unsigned long long)st.tensors_alive, (unsigned long long)max_blocks,
           (double)st.device_memory_in_use / 1048576.0, (double)st.device_memory_peak / 1048576.0);
    CHECK(created > 2000, "only %d tensors", created);
    CHECK(max_blocks <= 8, "%llu memory blocks for small tensors: sub-allocation is not working",
          (unsigned long long)max_blocks);
    /* data survives neighbours coming and going */
    int kept = -1;
    for (int i = 0; i < N && kept < 0; i++) if (t[i] && ctvk_tensor_dtype(t[i]) == CTVK_F32) kept = i;
    CHECK(kept >= 0, "no live fp32 tensor");
    size_t n = ctvk_tensor_count(t[kept]);
    float *x = malloc(n * sizeof *x);
    check_fill_uniform(x, n, 3, -1, 1);
    CHECK(ctvk_tensor_upload(t[kept], x, n * sizeof *x) == CTVK_OK, "upload");
    for (int i = 0; i < N; i++) if (i != kept && t[i]) { ctvk_tensor_destroy(t[i]); t[i] = NULL; }
    for (int i = 0; i < 50; i++) {
        ctvk_shape s = {1, 1, 1, 1000 + i};
        CHECK(ctvk_tensor_create(ctx, CTVK_F32, s, "reuse", &t[i == kept ? N - 1 : i]) == CTVK_OK, "reuse");
    }
    float *back = check_download(t[kept]);
    CHECK(memcmp(back, x, n * sizeof *x) == 0, "tensor data changed while neighbours were freed and reused");
    free(back);
    free(x);
    for (int i = 0; i < N; i++) { ctvk_tensor_destroy(t[i]); t[i] = NULL; }
    ctvk_get_stats(ctx, &st);
    CHECK(st.tensors_alive == 0 && st.device_memory_in_use == 0, "leak: %llu tensors, %llu bytes",
          (unsigned long long)st.tensors_alive, (unsigned long long)st.device_memory_in_use);
    CHECK(st.device_memory_blocks <= 1, "%llu blocks kept after everything was freed",
          (unsigned long long)st.device_memory_blocks);

    /* views: a contiguous range, bounds checked */
    ctvk_shape ps = {1, 1, 1, 1024};
    ctvk_tensor *p = check_tensor(ctx, ps, NULL, "flat"), *v = NULL, *bad = NULL;
    CHECK(ctvk_fill(ctx, p, 0.0f) == CTVK_OK, "fill");
    CHECK(ctvk_tensor_view(p, 256, (ctvk_shape){1, 4, 4, 16}, "view", &v) == CTVK_OK, "view: %s", ctvk_error());
    CHECK(ctvk_fill(ctx, v, 2.0f) == CTVK_OK, "fill view: %s", ctvk_error());
    float *all = check_download(p);
    int wrong = 0;
    for (int i = 0; i < 1024; i++) wrong += all[i] != ((i >= 256 && i < 512) ? 2.0f : 0.0f);
    CHECK(wrong == 0, "view fill touched %d wrong elements", wrong);
    free(all);
    CHECK(ctvk_tensor_view(p, 1000, (ctvk_shape){1, 1, 1, 100}, "past", &bad) == CTVK_ERR_ARG, "view past the end");
    CHECK(strstr(ctvk_error(), "outside tensor 'flat'") != NULL, "message: %s", ctvk_error());
    ctvk_tensor_destroy(v);
    ctvk_tensor_destroy(p);
    CHECK(ctvk_tensor_create(ctx, CTVK_F32, (ctvk_shape){1, 0, 4, 4}, "empty", &bad) == CTVK_ERR_ARG, "zero shape");
    check_ctx_done(ctx);

    /* a budget too small for the work is refused before anything is allocated, with the sizes */
    ctvk_options o;
    ctvk_options_default(&o);
    o.memory_limit = 8u << 20;
    ctx = check_ctx(&o);
    ctvk_tensor *big = NULL;
    ctvk_status s = ctvk_tensor_create(ctx, CTVK_F32, (ctvk_shape){14, 256, 256, 64}, "conv1_conv", &big);
    printf("budget refusal: %s\n", ctvk_error());
    CHECK(s == CTVK_ERR_DEVICE_MEMORY, "status %s", ctvk_status_name(s));
    CHECK(strstr(ctvk_error(), "conv1_conv") && strstr(ctvk_error(), "224.0 MiB") && strstr(ctvk_error(), "8.0 MiB"),
          "message lacks the tensor or sizes: %s", ctvk_error());
    ctvk_get_stats(ctx, &st);
    CHECK(st.device_memory_blocks == 0, "a block was allocated for refused work");
    check_ctx_done(ctx);

    /* an allocation failure from the driver becomes a clear message */
    setenv("CTVK_FAULT", "allocate:*", 1);
    ctx = check_ctx(NULL);
    s = ctvk_tensor_create(ctx, CTVK_F32, (ctvk_shape){1, 1, 1, 100}, "x", &big);
    printf("injected allocation failure: %s\n", ctvk_error());
    CHECK(s == CTVK_ERR_DEVICE_MEMORY && strstr(ctvk_error(), "out of device memory"), "status %s: %s",
          ctvk_status_name(s), ctvk_error());
    unsetenv("CTVK_FAULT");
    check_ctx_done(ctx);
    free(t);
    return check_done("test_memory");
}
