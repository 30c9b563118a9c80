// Output driver shared by the ops shaders (net/ops.h): each invocation produces 4 consecutive
// outputs y[i] = f(i), or y[i] += f(i) when ACC, with one vec4 store where all four exist.
// n is read through ctvk_opaque_u. The including shader declares LOCAL, ACC, buffers y4[] / y1[] (same binding) and float f(uint).
void ops4_main(uint n)
{
    n = ctvk_opaque_u(n);   // one compilation for every size (common.glsl)
    uint base = 4u * ctvk_flat_index(LOCAL);
    if (base >= n) return;
    if (base + 3u < n) {
        vec4 v = vec4(f(base), f(base + 1u), f(base + 2u), f(base + 3u));
        if (ACC) v += y4[base / 4u];
        y4[base / 4u] = v;
    } else {
        for (uint i = base; i < n; i++) y1[i] = ACC ? y1[i] + f(i) : f(i);
    }
}
