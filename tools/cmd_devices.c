/* ctvk devices: every Vulkan device with what matters for ctvk, and which one would be chosen. */
#include "tools/cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_devices_help[] =
    "usage: ctvk devices [CONFIG] [--device D] [--set device.name=D]\n\n"
    "Lists each Vulkan device: type, vendor, driver, memory heaps, subgroup size, 16-bit storage,\n"
    "fp16/int8 arithmetic, cooperative-matrix support, and marks the one ctvk would choose\n"
    "(discrete > integrated > virtual > CPU unless [device] name, --device or CTVK_DEVICE picks one).\n";

static const char *vendor_name(uint32_t id)
{
    switch (id) {
    case 0x1002: return "AMD";
    case 0x10de: return "NVIDIA";
    case 0x8086: return "Intel";
    case 0x13b5: return "ARM";
    case 0x5143: return "Qualcomm";
    case 0x10005: return "Mesa";
    default: return "unknown";
    }
}

static const char *yes(int b) { return b ? "yes" : "no"; }

int cmd_devices(int argc, char **argv)
{
    cli_common com = {0};
    const char *config = NULL;
    for (int i = 1; i < argc;) {
        int k = cli_common_take("devices", &com, argc, argv, i);
        if (k < 0) return 2;
        if (k > 0) { i += k; continue; }
        if (argv[i][0] == '-') return cli_usage_error("devices", "unknown option '%s'", argv[i]);
        if (config) return cli_usage_error("devices", "unexpected argument '%s'", argv[i]);
        config = argv[i++];
    }
    ctvk_config *cfg = NULL;
    int rc = cli_load_config("devices", config, &com, &cfg);
    if (rc) return rc;
    ctvk_options o;
    if ((rc = cli_device_options("devices", cfg, &com, &o))) { ctvk_config_free(cfg); return rc; }
    ctvk_device_info *d = NULL;
    int n = 0, chosen = -1;
    if (ctvk_list_devices(&o, &d, &n, &chosen)) { ctvk_config_free(cfg); return cli_fail("devices"); }
    for (int i = 0; i < n; i++) {
        const ctvk_device_info *x = &d[i];
        printf("%c %d: %s\n", i == chosen ? '*' : ' ', x->index, x->name);
        printf("    type %s, vendor %s (0x%04x), device 0x%04x, Vulkan %u.%u.%u\n", ctvk_device_type_name(x->type),
               vendor_name(x->vendor_id), x->vendor_id, x->device_id, x->api_version >> 22,
               (x->api_version >> 12) & 0x3ff, x->api_version & 0xfff);
        printf("    driver %s %s (version 0x%x)\n", x->driver_name, x->driver_info, x->driver_version);
        for (int h = 0; h < x->heap_count; h++)
            printf("    memory heap %d: %.0f MiB%s\n", h, (double)x->heap_size[h] / 1048576.0,
                   x->heap_device_local[h] ? " device-local" : "");
        printf("    subgroup size %u, shared memory %u KiB, workgroup up to %u, storage buffer range %.0f MiB\n",
               x->subgroup_size, x->max_shared_memory / 1024, x->max_workgroup_invocations,
               (double)x->max_storage_buffer_range / 1048576.0);
        printf("    16-bit storage %s, fp16 arithmetic %s, int8 arithmetic %s, cooperative matrix %s\n",
               yes(x->storage16), yes(x->float16), yes(x->int8), yes(x->cooperative_matrix));
        printf("    push descriptors %s, memory budget %s, unified memory %s, timestamps %s\n",
               yes(x->push_descriptors), yes(x->memory_budget), yes(x->unified_memory),
               yes(x->timestamp_period > 0));
        printf("    texel buffers up to %u elements, %u storage buffers per kernel\n", x->max_texel_buffer_elements,
               x->max_storage_buffers_per_stage);
        char paths[2048];
        ctvk_device_paths(x, paths, sizeof paths);
        for (char *line = strtok(paths, "\n"); line; line = strtok(NULL, "\n")) printf("    path: %s\n", line);
    }
    if (chosen >= 0) printf("chosen: %d (%s)\n", chosen, d[chosen].name);
    else fprintf(stderr, "ctvk devices: %s\n", ctvk_error());
    free(d);
    ctvk_config_free(cfg);
    return chosen >= 0 ? 0 : 1;
}
