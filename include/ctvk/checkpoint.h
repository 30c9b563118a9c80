/* Checkpoints (the project's own file format), parameter initialisation, and Keras HDF5 weights.
 *
 * A checkpoint holds a network's model config (so it knows its architecture), its parameters as a
 * table of named tensors ("<layer>/<weight name>", e.g. "conv1_conv/kernel:0", each with dtype,
 * Keras shape and CRC32), optionally the optimizer state (two flat fp32 buffers m and v in the
 * graph's parameter layout and an opaque blob), the RNG state and the training progress (epoch,
 * step, free-form "key=value" metric lines). Every section has a CRC32 and the whole file one more.
 *
 * File layout (little-endian), version 1:
 *   "CTVKCKPT" | u32 version | u32 flags | u64 file size
 *   sections: char tag[4] | u32 0 | u64 length | payload | u32 crc32(payload)
 *     CONF  model config as text lines "key=value"
 *     TENS  u32 count, then per tensor: u16 name length, name, u8 dtype (0 = f32), u8 ndim,
 *           u32 dims[ndim], u64 bytes, u32 crc32(data)
 *     DATA  the tensors' data in table order (its crc field is 0: each tensor has its own CRC)
 *     PROG  i64 epoch, i64 step, u64 rng[4], u64 params_total
 *     METR  metrics text                      (optional)
 *     OPTM, OPTV  params_total fp32 each      (optional, both or neither)
 *     OPTB  the optimizer's blob              (optional)
 *   "CEND" | u32 crc32 of every byte before "CEND"
 *
 * Saving writes a temporary file in the target's folder, fsyncs it and renames it over the target:
 * a failure leaves any previous file intact. Loading checks everything and refuses a foreign,
 * truncated or corrupt file, or one whose tensors do not match the graph, with one line naming the
 * file and what is wrong. Test-only fault injection: CTVK_FAULT=checkpoint-write:* makes every save
 * fail half-way through writing its temporary file. */
#ifndef CTVK_CHECKPOINT_H
#define CTVK_CHECKPOINT_H
#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CTVK_CHECKPOINT_VERSION 1

typedef struct ctvk_checkpoint {
    ctvk_model_config model;   /* load: from the file */
    float *params;             /* params_total floats in the graph's layout (padding zero) */
    size_t params_total;
    float *opt_m, *opt_v;      /* NULL: no optimizer state; else params_total floats each */
    void *opt_blob;            /* the optimizer's small state struct (step, running product, ...) */
    size_t opt_blob_size;
    int64_t epoch, step;
    uint64_t rng[4];
    char *metrics;             /* "key=value" lines; NULL: none */
} ctvk_checkpoint;

/* Writes ck (its params laid out as g's) to path. ck->params_total must equal g->params_total;
 * ck->model is ignored: the file records g->cfg. */
ctvk_status ctvk_checkpoint_save(const char *path, const ctvk_graph *g, const ctvk_checkpoint *ck);
/* Reads path into *ck (fresh allocations; free with ctvk_checkpoint_free). With a graph, the file
 * must be of the same architecture (arch, head, channels, classes, small_resnet stages) and its
 * tensors must match the graph's names and shapes one to one; with g NULL the graph is built from
 * the file's own config and checked the same way. *ck is zeroed on failure. */
ctvk_status ctvk_checkpoint_load(const char *path, const ctvk_graph *g, ctvk_checkpoint *ck);
void ctvk_checkpoint_free(ctvk_checkpoint *ck);
/* Reads only the model config of a checkpoint (checked: magic, version, the CONF section's CRC). */
ctvk_status ctvk_checkpoint_peek_config(const char *path, ctvk_model_config *cfg);

/* The model config as "key=value" lines (arch, head, height, width, channels, classes, bn_eps,
 * bn_momentum, dropout, stages, blocks, widths; floats exact). Returns the length, or the size
 * needed (as snprintf). */
size_t ctvk_model_config_to_text(const ctvk_model_config *c, char *buf, size_t n);
/* Parses those lines (unknown keys ignored; arch required). `what` names the source in errors. */
ctvk_status ctvk_model_config_from_text(const char *text, const char *what, ctvk_model_config *c);

/* CRC-32 (IEEE 802.3, as zlib): crc = ctvk_crc32(crc, data, n), starting from 0. */
uint32_t ctvk_crc32(uint32_t crc, const void *data, size_t n);

/* ------------------------------------------------------------------------------ initialisation */
/* Fills params (g->params_total floats) with the Keras initialisation: glorot-uniform conv and dense
 * kernels (N(0, 0.001) for the dense kernels of the FPN head, docs/method.md section 3), zero biases,
 * beta and moving_mean, ones for gamma and moving_variance, zero padding. Each tensor draws from its
 * own stream seeded by (seed, layer name, weight name), so the result does not depend on the order
 * of layers or on other layers. */
void ctvk_graph_init_params(const ctvk_graph *g, float *params, uint64_t seed);

/* ------------------------------------------------------------------------------ Keras HDF5 */
typedef enum ctvk_conv1_from_rgb {
    CTVK_CONV1_SKIP = 0,       /* a conv1_conv kernel of another input depth is skipped (Keras) */
    CTVK_CONV1_SUM = 1         /* ... or summed over its input channels into a 1-channel kernel */
} ctvk_conv1_from_rgb;

typedef struct ctvk_keras_report {
    int file_layers;           /* layers listed in the file */
    int matched_layers;        /* of those, layers found in the graph */
    int weights_loaded;        /* tensors copied into params */
    size_t floats_loaded;
    int weights_summed;        /* of those, conv1_conv kernels summed over RGB */
    int weights_skipped;       /* file tensors not loaded (shape or count mismatch) */
    int weights_missing;       /* graph tensors the file does not provide: kept their init */
    char *skipped;             /* lines "layer/weight: reason" (NULL if none) */
    char *unmatched;           /* lines: file layers (with weights) not in the graph (NULL if none) */
    char *missing;             /* lines: graph tensors not in the file (NULL if none) */
} ctvk_keras_report;

/* Reads a Keras HDF5 weight file (weights-only, or a whole-model file with /model_weights) into
 * params (laid out as g's; tensors the file lacks are left as they are): layers by name, weights
 * in order, skipping weights whose shape differs (Keras load_weights(by_name=True,
 * skip_mismatch=True)). rep may be NULL; free it with ctvk_keras_report_free. */
ctvk_status ctvk_keras_import(const char *h5path, const ctvk_graph *g, float *params,
                              ctvk_conv1_from_rgb conv1, ctvk_keras_report *rep);
void ctvk_keras_report_free(ctvk_keras_report *rep);
/* CTVK_OK when the import filled every model weight from the file and used every weight of the file;
 * otherwise a message with the counts (loaded, skipped, unmatched, left initialised) that ends with
 * "refused (ALLOW to accept it)". A partial import is what a transfer from another input depth or
 * another head gives: the caller accepts it only when the user asked for it. */
ctvk_status ctvk_keras_check_complete(const char *h5path, const ctvk_graph *g, const ctvk_keras_report *rep,
                                      const char *allow);
/* Writes params as a Keras weight file (what model.save_weights writes: root attributes
 * layer_names of every layer in order, backend, keras_version; one group per layer with its
 * weight_names; float32 datasets in Keras shapes), through a temporary file and a rename. */
ctvk_status ctvk_keras_export(const char *h5path, const ctvk_graph *g, const float *params);

#ifdef __cplusplus
}
#endif
#endif
