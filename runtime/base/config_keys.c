/* The one table of config keys: configs/README.md documents it (test_config_table holds the two
 * together), ctvk_config_check refuses anything outside it, and the readers take their defaults and
 * ranges from it through ctvk__key_*. */
#include "runtime/base/config_keys.h"
#include "runtime/base/base.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const ctvk__key ctvk__keys[] = {
    {"data", "root", CTVK__KEY_STR, 0, 0, NULL, NULL,
     "the flat Train&Validation folder (`layout = flat`), or the full tree (`layout = full`); in a full tree a patient folder may hold DICOM files (each CT series one sequence) or NIfTI volumes instead of SR_k folders of TIFFs"},
    {"data", "layout", CTVK__KEY_ENUM, 0, 0, "flat|full", "flat",
     "`flat`: files named `<group>_patientN_SR_k_IMxxxxx.tif` with fold CSVs; `full`: `<group>/patientN/SR_k/IMxxxxx.tif`"},
    {"data", "folds_dir", CTVK__KEY_STR, 0, 0, NULL, NULL,
     "folder of `train{k}.csv`, `validation{k}.csv`, `test{k}.csv` (`filename,class`)"},
    {"data", "series_root", CTVK__KEY_STR, 0, 0, NULL, NULL,
     "a full-layout tree beside a flat root, for whole-series evaluation (`[eval] selection`)"},
    {"data", "image_size", CTVK__KEY_INT, 16, 4096, NULL, "512",
     "expected slice size (16..4096); other sizes are refused unless `resize`"},
    {"data", "resize", CTVK__KEY_BOOL, 0, 0, NULL, "false",
     "resample slices of another size (bilinear)"},
    {"data", "check_files", CTVK__KEY_BOOL, 0, 0, NULL, "true",
     "every file a fold CSV names must exist"},
    {"data", "values", CTVK__KEY_ENUM, 0, 0, "auto|stored|hu", "auto",
     "what slice samples mean. `auto`: uint8/uint16 TIFF samples are stored values (COVID-CTset's HU + 1024), int16/float32 TIFF samples are HU; `stored`: every TIFF sample is a stored value (a negative one is refused, naming the file); `hu`: every TIFF sample is HU. DICOM (after RescaleSlope/Intercept) and NIfTI (after scl_slope/scl_inter) are always HU. HU become stored = HU + `hu_offset`, clipped to 0..65535 with the clipped samples counted and reported; NaN and infinite samples are always refused, naming the file"},
    {"data", "hu_offset", CTVK__KEY_INT, 1, 32768, NULL, "1024",
     "stored value = HU + hu_offset (1..32768); 1024 is COVID-CTset's scale (its DICOM RescaleIntercept is -1024), the scale the network was trained on and `[selection] dark_level` is counted in"},
    {"data", "scale", CTVK__KEY_NUM, -1e9, 1e9, NULL, "1",
     "network input = scale x raw stored value + offset (docs/method.md: raw values, no normalisation)"},
    {"data", "offset", CTVK__KEY_NUM, -1e9, 1e9, NULL, "0",
     "network input = scale x raw stored value + offset (docs/method.md: raw values, no normalisation)"},
    {"data", "skip_bad", CTVK__KEY_BOOL, 0, 0, NULL, "false",
     "count and skip a slice that fails to decode instead of stopping"},
    {"data", "loader_threads", CTVK__KEY_INT, 0, 64, NULL, "0",
     "background decoding threads"},
    {"selection", "region_y0", CTVK__KEY_INT, 0, 511, NULL, "240",
     "rows of the region, end-exclusive, in 512x512 coordinates (scaled with the image)"},
    {"selection", "region_y1", CTVK__KEY_INT, 1, 512, NULL, "340",
     "rows of the region, end-exclusive, in 512x512 coordinates (scaled with the image)"},
    {"selection", "region_x0", CTVK__KEY_INT, 0, 511, NULL, "120",
     "columns of the region"},
    {"selection", "region_x1", CTVK__KEY_INT, 1, 512, NULL, "370",
     "columns of the region"},
    {"selection", "dark_level", CTVK__KEY_INT, 1, 65536, NULL, "300",
     "a pixel is dark iff its raw value is strictly below this"},
    {"selection", "divisor", CTVK__KEY_NUM, 1e-6, 1e6, NULL, "1.5",
     "threshold = (max count - min count) / divisor; a slice is kept iff count > threshold"},
    {"selection", "group", CTVK__KEY_ENUM, 0, 0, "sequence|patient", "sequence",
     "`sequence` (each SR_k folder) or `patient`"},
    {"model", "arch", CTVK__KEY_ENUM, 0, 0, "resnet50|resnet50v2|resnet50v2_fpn|small_resnet", "resnet50v2_fpn",
     "`resnet50`, `resnet50v2`, `resnet50v2_fpn`, `small_resnet`"},
    {"model", "head", CTVK__KEY_ENUM, 0, 0, "fpn|gap|none", NULL,
     "`fpn`, `gap` (global average pool, dropout, dense softmax), `none` (backbone only)"},
    {"model", "input_size", CTVK__KEY_INT, 8, 4096, NULL, "512",
     "square input; or `height` and `width`"},
    {"model", "height", CTVK__KEY_INT, 8, 4096, NULL, NULL,
     ""},
    {"model", "width", CTVK__KEY_INT, 8, 4096, NULL, NULL,
     ""},
    {"model", "channels", CTVK__KEY_INT, 1, 4, NULL, "1",
     "input channels"},
    {"model", "classes", CTVK__KEY_INT, 2, 1000, NULL, "2",
     "covid = 0, normal = 1"},
    {"model", "dropout", CTVK__KEY_NUM, 0, 0.95, NULL, "0.5",
     "dropout rate of the heads"},
    {"model", "bn_eps", CTVK__KEY_NUM, 1e-12, 1, NULL, "1.001e-5",
     "batch normalisation"},
    {"model", "bn_momentum", CTVK__KEY_NUM, 0, 1, NULL, "0.99",
     "batch normalisation"},
    {"model", "stages", CTVK__KEY_INT, 1, 7, NULL, "3",
     "`small_resnet` only: stages, blocks per stage, bottleneck widths"},
    {"model", "blocks", CTVK__KEY_LIST, 1, 16, NULL, "1,1,1",
     "`small_resnet` only: stages, blocks per stage, bottleneck widths"},
    {"model", "widths", CTVK__KEY_LIST, 1, 1024, NULL, "16,32,64",
     "`small_resnet` only: stages, blocks per stage, bottleneck widths"},
    {"model", "weights", CTVK__KEY_STR, 0, 0, NULL, NULL,
     "Keras HDF5 weights to start from (loaded by layer name, shape mismatches skipped)"},
    {"model", "weights_partial", CTVK__KEY_BOOL, 0, 0, NULL, "false",
     "accept a Keras file that fills only part of the model or is only partly used (an RGB ImageNet backbone for a 1-channel FPN model); otherwise such an import is refused with the counts"},
    {"model", "conv1_from_rgb", CTVK__KEY_ENUM, 0, 0, "skip|sum", "skip",
     "for a 1-channel input and RGB weights: `skip` (Keras) or `sum` the kernel over RGB"},
    {"train", "epochs", CTVK__KEY_INT, 1, 100000, NULL, "20",
     ""},
    {"train", "batch", CTVK__KEY_INT, 1, 4096, NULL, "14",
     ""},
    {"train", "lr", CTVK__KEY_NUM, 0, 10, NULL, "1e-4",
     "Nadam (legacy Keras schedule)"},
    {"train", "beta1", CTVK__KEY_NUM, 0, 1, NULL, "0.9",
     "Nadam (legacy Keras schedule)"},
    {"train", "beta2", CTVK__KEY_NUM, 0, 1, NULL, "0.999",
     "Nadam (legacy Keras schedule)"},
    {"train", "epsilon", CTVK__KEY_NUM, 0, 1, NULL, "1e-7",
     "Nadam (legacy Keras schedule)"},
    {"train", "schedule_decay", CTVK__KEY_NUM, 0, 1, NULL, "0.004",
     "Nadam (legacy Keras schedule)"},
    {"train", "seed", CTVK__KEY_INT, 0, 9.2e18, NULL, "1",
     "everything random (initialisation, shuffling, augmentation, dropout) derives from it"},
    {"train", "shuffle", CTVK__KEY_BOOL, 0, 0, NULL, "true",
     "reshuffle the training list every epoch"},
    {"train", "validation", CTVK__KEY_ENUM, 0, 0, "validation|test|none", "validation",
     "the list validated on each epoch: `validation`, `test` or `none`"},
    {"train", "early_stopping", CTVK__KEY_BOOL, 0, 0, NULL, "false",
     "Keras EarlyStopping on `val_loss`"},
    {"train", "patience", CTVK__KEY_INT, 0, 100000, NULL, "0",
     "Keras EarlyStopping on `val_loss`"},
    {"train", "min_delta", CTVK__KEY_NUM, 0, 1e9, NULL, "0",
     "Keras EarlyStopping on `val_loss`"},
    {"train", "max_steps_per_epoch", CTVK__KEY_INT, 0, 1e9, NULL, "0",
     "cap the steps of an epoch (0: the whole list); for quick experiments"},
    {"train", "micro_batch", CTVK__KEY_INT, 0, 4096, NULL, "0",
     "run each batch in micro-batches of at most this many samples and add their gradients before the Nadam step (0: the whole batch at once). Saves device memory (batch 14 at 512x512 does not fit lavapipe's 2 GiB in one piece); batch norm then normalises each micro-batch by its own statistics (\"ghost\" batch norm), so results differ slightly from the whole batch"},
    {"train", "sync_bn", CTVK__KEY_BOOL, 0, 0, NULL, "false",
     "with several MPI ranks (`mpirun -np N ctvk train`): batch-norm statistics over every rank's samples, so N ranks compute what one rank would with the same global batch (two small all-reduces per BN layer forward, one backward). Off: each rank normalises its own share; the moving statistics are averaged over the ranks at the end of every epoch"},
    {"augment", "enabled", CTVK__KEY_BOOL, 0, 0, NULL, "true",
     ""},
    {"augment", "rotation_range", CTVK__KEY_NUM, 0, 360, NULL, "360",
     "degrees"},
    {"augment", "shear_range", CTVK__KEY_NUM, 0, 90, NULL, "0.05",
     "degrees"},
    {"augment", "zoom_range", CTVK__KEY_NUM, 0, 0.99, NULL, "0.05",
     "zx, zy ~ U(1 - z, 1 + z) independently"},
    {"augment", "width_shift_range", CTVK__KEY_NUM, 0, 1, NULL, "0.05",
     "fractions of the size"},
    {"augment", "height_shift_range", CTVK__KEY_NUM, 0, 1, NULL, "0.05",
     "fractions of the size"},
    {"augment", "horizontal_flip", CTVK__KEY_BOOL, 0, 0, NULL, "true",
     "each with probability 0.5"},
    {"augment", "vertical_flip", CTVK__KEY_BOOL, 0, 0, NULL, "true",
     "each with probability 0.5"},
    {"augment", "legacy_centre", CTVK__KEY_BOOL, 0, 0, NULL, "false",
     "transform about size/2 + 0.5 as keras-preprocessing <= 1.1.2 did"},
    {"eval", "batch", CTVK__KEY_INT, 1, 4096, NULL, "10",
     ""},
    {"eval", "covid_fraction", CTVK__KEY_NUM, 0, 1, NULL, "0.1",
     "a patient is COVID iff COVID slices >= f x slices"},
    {"eval", "selection", CTVK__KEY_BOOL, 0, 0, NULL, "false",
     "classify each test patient's selected slices of the full series instead of the listed images"},
    {"eval", "bootstrap", CTVK__KEY_INT, 0, 1000000, NULL, "2000",
     "replicates of the stratified bootstrap over patients for the AUCs' 95 % intervals (0: none)"},
    {"eval", "bootstrap_seed", CTVK__KEY_INT, 0, 2147483647, NULL, "1",
     "the bootstrap's seed (splitmix64); the same seed gives the same intervals"},
    {"eval", "cam", CTVK__KEY_BOOL, 0, 0, NULL, "true",
     "Grad-CAM of each test patient's slice with the highest P(COVID): `eval_cam.csv` and `cam/` beside `eval.json`, the gallery of the report"},
    {"eval", "cam_layer", CTVK__KEY_STR, 0, 0, NULL, NULL,
     "the Keras layer of those maps; empty: `post_relu` (`conv5_block3_out` for resnet50)"},
    {"device", "name", CTVK__KEY_STR, 0, 0, NULL, NULL,
     "the device to run on (see `ctvk devices`)"},
    {"device", "validation", CTVK__KEY_BOOL, 0, 0, NULL, "false",
     "the Khronos validation layer on"},
    {"device", "profile", CTVK__KEY_BOOL, 0, 0, NULL, "false",
     "time every dispatch and print the per-label profile"},
    {"device", "variant", CTVK__KEY_ENUM, 0, 0, "auto|gpu|cpu", "auto",
     "`auto`, `gpu` or `cpu`: the kind of device the default choice prefers"},
    {"device", "push_descriptors", CTVK__KEY_BOOL, 0, 0, NULL, "true",
     "use VK_KHR_push_descriptor where the device has it"},
    {"device", "image_inputs", CTVK__KEY_ENUM, 0, 0, "false|true|all", "true",
     "kernels read inputs as storage texel buffers where the quirks table allows it (lavapipe); `all`: the "
     "convolutions' activations too"},
    {"device", "limits", CTVK__KEY_ENUM, 0, 0, "device|minimum", "device",
     "`device`, or `minimum`: clamp to the Vulkan minimum limits"},
    {"device", "memory_limit_mb", CTVK__KEY_INT, 0, 1 << 30, NULL, "0",
     "device memory budget in MiB (0: the device's own)"},
    {"device", "max_dispatches_per_submit", CTVK__KEY_INT, 0, 1 << 24, NULL, "0",
     "split long work into submits of at most this many dispatches (0: no limit)"},
    {"device", "compile_helpers", CTVK__KEY_INT, 0, 8, NULL, "2",
     "on a cold start on lavapipe, this many helper devices compile the network's kernels in parallel while the checkpoint is read (0: none)"},
    {"output", "dir", CTVK__KEY_STR, 0, 0, NULL, NULL,
     "the run folder (layout in `include/ctvk/pipeline.h`)"},
    {"output", "progress", CTVK__KEY_ENUM, 0, 0, "auto|bar|lines|none", "auto",
     "`bar` (a terminal), `lines` (one line per epoch), `none`; `auto` picks bar on a terminal"},
};
const size_t ctvk__nkeys = sizeof ctvk__keys / sizeof *ctvk__keys;

const ctvk__key *ctvk__key_find(const char *section, const char *key)
{
    for (size_t i = 0; i < ctvk__nkeys; i++)
        if (!strcasecmp(ctvk__keys[i].section, section) && !strcasecmp(ctvk__keys[i].key, key)) return &ctvk__keys[i];
    return NULL;
}

static ctvk_status row(const char *section, const char *key, ctvk__key_type t, const ctvk__key **out)
{
    *out = ctvk__key_find(section, key);
    if (!*out || (*out)->type != t)
        return ctvk__fail(CTVK_ERR_ARG, "internal: [%s] %s is not in the config table as that type", section, key);
    return CTVK_OK;
}

ctvk_status ctvk__key_int_or(const ctvk_config *cfg, const char *section, const char *key, long def, long *out)
{
    const ctvk__key *k;
    CTVK_TRY(row(section, key, CTVK__KEY_INT, &k));
    return ctvk_config_int(cfg, section, key, def, (long)k->lo, (long)k->hi, out);
}

ctvk_status ctvk__key_int(const ctvk_config *cfg, const char *section, const char *key, long *out)
{
    const ctvk__key *k;
    CTVK_TRY(row(section, key, CTVK__KEY_INT, &k));
    return ctvk_config_int(cfg, section, key, k->def ? strtol(k->def, NULL, 10) : 0, (long)k->lo, (long)k->hi, out);
}

ctvk_status ctvk__key_num_or(const ctvk_config *cfg, const char *section, const char *key, double def, double *out)
{
    const ctvk__key *k;
    CTVK_TRY(row(section, key, CTVK__KEY_NUM, &k));
    return ctvk_config_double(cfg, section, key, def, k->lo, k->hi, out);
}

ctvk_status ctvk__key_num(const ctvk_config *cfg, const char *section, const char *key, double *out)
{
    const ctvk__key *k;
    CTVK_TRY(row(section, key, CTVK__KEY_NUM, &k));
    return ctvk_config_double(cfg, section, key, k->def ? strtod(k->def, NULL) : 0, k->lo, k->hi, out);
}

ctvk_status ctvk__key_bool(const ctvk_config *cfg, const char *section, const char *key, int *out)
{
    const ctvk__key *k;
    CTVK_TRY(row(section, key, CTVK__KEY_BOOL, &k));
    return ctvk_config_bool(cfg, section, key, k->def && !strcmp(k->def, "true"), out);
}

ctvk_status ctvk__key_str(const ctvk_config *cfg, const char *section, const char *key, const char **out)
{
    const ctvk__key *k = ctvk__key_find(section, key);
    if (!k || (k->type != CTVK__KEY_STR && k->type != CTVK__KEY_ENUM))
        return ctvk__fail(CTVK_ERR_ARG, "internal: [%s] %s is not in the config table as text", section, key);
    return ctvk_config_str(cfg, section, key, k->def, out);
}
