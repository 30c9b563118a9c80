// Shared helpers for ctvk compute shaders.
// Large 1-D work is dispatched as a 2-D grid (x up to 65535 groups); this is the flat index.
uint ctvk_flat_index(uint local_size)
{
    return gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * local_size;
}
