/* The pipeline: the settings of a run (INI config, checked key by key), training one fold,
 * image- and patient-level evaluation, inference on one patient's series, and the run folder.
 *
 * A run folder ([output] dir) holds:
 *   config.ini                 the effective config (file + --set overrides)
 *   foldK/train_log.csv        per epoch: epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_s
 *   foldK/train_log.json       the same as a JSON array of objects
 *   foldK/best.ckpt            the checkpoint with the best validation accuracy
 *   foldK/last.ckpt            the latest state (each epoch, on Ctrl-C): what --resume continues
 *   foldK/eval.json            evaluation of best.ckpt on the fold's test list (ctvk_eval_write)
 *   foldK/eval_images.csv      path,label,prob_covid,pred,patient per test image
 *   foldK/eval_patients.csv    patient,label,slices,covid_slices,fraction,decision
 *   foldK/eval_roc.csv         level,threshold,fpr,tpr (image and patient ROC curves)
 *   foldK/eval_reliability.csv bin,lo,hi,count,mean_prob,frac_covid (10 bins of P(COVID))
 *   summary.csv, summary.json  `ctvk cv`: Table 2 and Table 4 of the paper per fold, the mean and the
 *                              pooled folds, with AUCs, intervals, calibration (configs/README.md)
 *   summary_roc.csv, summary_reliability.csv   the pooled curves
 *   report.html                `ctvk report`
 * Every file is written to a temporary name and renamed. */
#ifndef CTVK_PIPELINE_H
#define CTVK_PIPELINE_H
#include "config.h"
#include "ct.h"
#include <signal.h>
#include "net.h"
#include "stats.h"
#include "identity.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------ config */
/* Checks every section and key of a config against the documented schema (configs/README.md):
 * an unknown section or key, or a value of the wrong type or out of range, is an error naming the
 * file, the section and the key. */
ctvk_status ctvk_config_check(const ctvk_config *cfg);

/* ------------------------------------------------------------------------------------ evaluation */
typedef struct ctvk_eval_options {
    int batch;                /* [eval] batch = 10 */
    double covid_fraction;    /* [eval] covid_fraction = 0.1: COVID iff covid slices >= f x slices */
    int selection;            /* [eval] selection = false: run slice selection on each test patient's
                                 full series ([data] series_root or layout=full) and classify the
                                 selected slices instead of the listed test images */
    float scale, offset;      /* [data] scale = 1, offset = 0: network input = scale * raw + offset */
    int size, resize;         /* the network's input size; [data] resize */
    ctvk_value_options values;/* [data] values, hu_offset */
    int bootstrap;            /* [eval] bootstrap = 2000 replicates for the AUCs' intervals (0: none) */
    uint64_t bootstrap_seed;  /* [eval] bootstrap_seed = 1 */
    int cam;                  /* [eval] cam = true: Grad-CAM of each test patient's top slice */
    char cam_layer[128];      /* [eval] cam_layer (empty: ctvk_cam_default_layer) */
} ctvk_eval_options;

/* Reads [eval] and [data] (and [model] input_size for size). */
ctvk_status ctvk_eval_options_from_config(const ctvk_config *cfg, ctvk_eval_options *o);
/* The input transform of the checkpoint's network (mc, from ctvk_checkpoint_peek_config) into o:
 * a network sees what it was trained on. A config that sets [data] scale or offset to other values
 * is refused, naming both; a checkpoint that does not record them keeps the config's. */
ctvk_status ctvk_eval_options_from_model(const ctvk_config *cfg, const ctvk_model_config *mc, const char *ckpt,
                                         ctvk_eval_options *o);

typedef struct ctvk_patient_result {
    char id[32];              /* "patient5" */
    int label;                /* CTVK_CLASS_COVID (0) or CTVK_CLASS_NORMAL (1) */
    int slices, covid_slices;
    double fraction;
    int decision;             /* the predicted class */
} ctvk_patient_result;

typedef struct ctvk_eval_result {
    size_t n;                 /* images (or selected slices) classified */
    char **paths;
    uint8_t *labels, *preds;  /* CTVK_CLASS_* */
    float *prob_covid;
    long confusion[2][2];     /* [true class][predicted class] */
    double accuracy, sens_covid, sens_normal;   /* image level, in [0, 1] */
    int npatients;
    ctvk_patient_result *patients;
    int covid_cases, covid_correct, covid_wrong, normal_cases, normal_correct, normal_wrong;
    double seconds;
    int *image_patient;       /* per image: its index in patients (-1: none); ctvk_eval_patients */
    int have_stats;           /* stats filled (ctvk_eval_compute_stats; ctvk_evaluate does it) */
    ctvk_eval_stats stats;    /* ROC AUCs with bootstrap intervals, Wilson intervals, calibration */
    int have_model;           /* model filled (by the caller, after evaluating): eval.json states it */
    ctvk_model_identity model;
} ctvk_eval_result;

/* Classifies every image of `list` (a fold's test list of dataset d) with net (inference), then
 * decides per patient. */
ctvk_status ctvk_evaluate(ctvk_ctx *ctx, ctvk_net *net, const ctvk_dataset *d, const ctvk_image_list *list,
                          const ctvk_eval_options *o, ctvk_eval_result *out);
void ctvk_eval_result_free(ctvk_eval_result *r);
/* Writes eval.json, eval_images.csv and eval_patients.csv into dir (atomically); with r->have_stats
 * also eval_roc.csv and eval_reliability.csv (fields in configs/README.md, "Evaluation files"). */
ctvk_status ctvk_eval_write(const char *dir, const ctvk_eval_result *r);

/* Builds the graph from a checkpoint's own config and creates an inference net of `batch` with its
 * parameters (the caller frees both with ctvk_net_destroy and ctvk_graph_free). */
ctvk_status ctvk_net_from_checkpoint(ctvk_ctx *ctx, const char *path, int batch, ctvk_graph *g, ctvk_net **net);

/* Added with the evaluation (the pieces ctvk_evaluate is made of, for infer and the tests): */
/* ctvk_evaluate with the slice-selection parameters o->selection uses (ctvk_select_from_config);
 * ctvk_evaluate uses the defaults (sp NULL). Selection reads the series at d->image_size. */
ctvk_status ctvk_evaluate_select(ctvk_ctx *ctx, ctvk_net *net, const ctvk_dataset *d, const ctvk_image_list *list,
                                 const ctvk_eval_options *o, const ctvk_select_params *sp,
                                 ctvk_eval_result *out);
/* Classifies n slices in batches of o->batch (background decoding at the net's input size with
 * o->resize; input = o->scale * raw + o->offset): prob_covid[i] = softmax[0], preds[i] = argmax
 * (ties -> covid, index 0, as numpy). The net must take square 1-channel input and have 2 classes. */
ctvk_status ctvk_classify_slices(ctvk_ctx *ctx, ctvk_net *net, size_t n, const char *const *paths,
                                 const ctvk_eval_options *o, float *prob_covid, uint8_t *preds);
/* Grad-CAM of n slices for the COVID class at `layer` (NULL or "": ctvk_cam_default_layer), with a
 * network of graph g and parameters params created here (batch 1), slices read and converted as
 * ctvk_classify_slices reads them. Per slice i (0-based) it writes, into the existing folder dir,
 * NNN_STEM.cam.tiff (the map, h x w 32-bit floats in 0..1 at the layer's resolution) and
 * NNN_STEM.cam.png (the overlay, ctvk_cam_overlay_write), NNN = i + 1 and STEM the slice file's name
 * without its extension, and fills out[i]. */
typedef struct ctvk_cam_result {
    char map_path[4096], overlay_path[4096], slice_path[4096];   /* slice_path: the slice alone (PNG) */
    float prob_covid;         /* P(COVID) of this pass (the classification's, up to rounding) */
    int map_h, map_w;         /* the layer's resolution */
    double top;               /* the map's maximum before normalisation (0: no positive evidence) */
    int peak_x, peak_y;       /* the peak cell's centre in the pixels of the slice as classified
                                 (size x size); -1 when top is 0 */
} ctvk_cam_result;
ctvk_status ctvk_cam_slices(ctvk_ctx *ctx, const ctvk_graph *g, const float *params, const char *layer, size_t n,
                            const char *const *paths, const ctvk_eval_options *o, const char *dir,
                            ctvk_cam_result *out);
/* The Grad-CAM gallery of an evaluation: for each patient of r, the classified slice with the highest
 * P(COVID), through ctvk_cam_slices (the network's graph and parameters, o->cam_layer) into
 * dir/cam/, and dir/eval_cam.csv listing them (patient, label, decision, slice, prob_covid, the
 * files relative to dir, the peak). */
ctvk_status ctvk_eval_cam_write(ctvk_ctx *ctx, ctvk_net *net, const char *dir, const ctvk_eval_result *r,
                                const ctvk_eval_options *o);
/* docs/method.md section 5: CTVK_CLASS_COVID iff covid_slices >= f x slices (an exact tie such as
 * 3 of 30 at f = 0.1 is COVID, whatever the rounding of f x slices); a patient with no slices is normal. */
int ctvk_patient_decision(int slices, int covid_slices, double f);
/* Image level: confusion, accuracy and per-class sensitivity from r->labels and r->preds
 * (an empty class has sensitivity 0). */
void ctvk_eval_image_metrics(ctvk_eval_result *r);
/* Patient level: groups r's n images by patient[i] (an index into ids and labels, of npatients;
 * other values are skipped), decides each patient with f and fills r->patients (patients with
 * images, in index order) and the Table 4 counts. */
ctvk_status ctvk_eval_patients(ctvk_eval_result *r, const int *patient, int npatients, const char *const *ids,
                               const int *labels, double f);
/* The statistics of r (images with a patient only) with `replicates` bootstrap replicates. */
ctvk_status ctvk_eval_compute_stats(ctvk_eval_result *r, int replicates, uint64_t seed);

/* The samples of one or more evaluations, read back from eval_images.csv and eval_patients.csv
 * (what `ctvk cv` pools over folds). Each call appends one folder's; its patients get new indices. */
typedef struct ctvk_eval_samples {
    size_t n, cap;
    double *score;
    uint8_t *positive, *predicted;
    int *cluster;
    int npatients, pcap;
    double *patient_score;
    uint8_t *patient_positive, *patient_predicted;
} ctvk_eval_samples;
ctvk_status ctvk_eval_samples_read(const char *dir, ctvk_eval_samples *s);
/* The samples of a result in memory (images without a patient left out); s is overwritten. */
ctvk_status ctvk_eval_samples_from_result(const ctvk_eval_result *r, ctvk_eval_samples *s);
void ctvk_eval_samples_free(ctvk_eval_samples *s);
void ctvk_eval_samples_input(const ctvk_eval_samples *s, ctvk_stats_input *in);
/* eval.json's statistics keys (each line "<indent>\"key\": value,\n") and the two curve files
 * PREFIX_roc.csv, PREFIX_reliability.csv in dir. */
void ctvk_eval_stats_json(FILE *f, const char *indent, const ctvk_eval_stats *st);
ctvk_status ctvk_eval_curves_write(const char *dir, const char *prefix, const ctvk_stats_input *in,
                                   const ctvk_eval_stats *st);

/* ------------------------------------------------------------------------------------ training */
typedef struct ctvk_epoch_metrics {
    int epoch;                /* 1-based */
    double loss, accuracy, val_loss, val_accuracy, seconds, images_per_s;
} ctvk_epoch_metrics;

typedef struct ctvk_train_result {
    int epochs_run;
    int best_epoch;
    double best_val_accuracy;  /* the training accuracy when validated is 0 ([train] validation = none) */
    int validated;
    int stopped_early, interrupted;
    char best_checkpoint[4200];
} ctvk_train_result;

/* ctvk_train_fold's resume: bit 0 resumes; with this bit too, training settings that differ from
 * those last.ckpt was trained with are accepted (listed on progress) instead of refused. */
#define CTVK_RESUME_ALLOW_CHANGES 2
/* Trains fold k (1-based) of the config's dataset into run_dir/foldK, resuming from
 * run_dir/foldK/last.ckpt when resume is set (refused, listing them, when the training settings
 * differ from last.ckpt's, unless resume has CTVK_RESUME_ALLOW_CHANGES). Progress goes to `progress` (a terminal gets a bar
 * with loss, accuracy, images/s and ETA; a log gets one plain line per epoch); NULL is quiet. */
ctvk_status ctvk_train_fold(ctvk_ctx *ctx, const ctvk_config *cfg, int k, const char *run_dir, int resume,
                            void *progress /* FILE* */, ctvk_train_result *out);

/* Set by a SIGINT handler: training saves last.ckpt at the end of the current step and returns
 * CTVK_ERR_INTERRUPTED. */
extern volatile sig_atomic_t ctvk_interrupt_requested;

#ifdef __cplusplus
}
#endif
#endif
