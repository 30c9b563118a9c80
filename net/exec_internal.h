/* Private to the device executor (net/exec*.c): its plan of a layer graph (values, layers, buffer
 * pools) and the pieces its files share. The passes, one file each:
 *   exec_plan.c    graph -> layers and values, the measured choices (Winograd, fusions, split-K),
 *                  what backward keeps, buffer pools by liveness
 *   exec_memory.c  the memory budget check, allocation, and the memory accounting reports
 *   exec_bind.c    views of the planned buffers for a batch size, batch slices where a tensor is
 *                  larger than one binding may span
 *   exec.c         creation, parameters, forward, loss, backward, Nadam, statistics, optimizer
 *   exec_dist.c    the distributed parts: synchronised batch norm, the gradient all-reduce
 *   exec_cam.c     Grad-CAM: backward from one logit down to a layer, in inference mode */
#ifndef CTVK_NET_EXEC_INTERNAL_H
#define CTVK_NET_EXEC_INTERNAL_H
#include "net/conv.h"
#include "net/exec.h"
#include "net/ops.h"
#include "net/train_ops.h"

enum kind { K_NONE, K_INPUT, K_CONV, K_BN, K_RELU, K_ADD, K_PAD, K_MAXPOOL, K_GAP, K_RESIZE, K_CONCAT,
            K_DROPOUT, K_DENSE };

/* A value: one activation of the batch. Aliases (Flatten) share their root's buffer. */
typedef struct xval {
    ctvk_shape shape;        /* per sample */
    int root;                /* the value owning the buffer (itself unless an alias) */
    int producer;            /* layer writing it */
    int last_use;            /* last layer reading it in the forward pass */
    int keep;                /* read by the backward pass */
    int buf, gbuf;           /* activation / gradient pool buffer */
    int grad_first, grad_last;   /* layers (in forward numbering) whose backward writes / reads its gradient */
    ctvk_tensor *t, *g;      /* views for the current batch size */
    int grad_ready;
} xval;

typedef struct xlayer {
    enum kind kind;
    int vin[2], vout;
    ctvk_conv2d conv;        /* conv geometry incl. folded padding */
    int k, stride, pt, pb, pl, pr;   /* maxpool / pad */
    int relu;
    float eps, momentum, rate;
    ctvk_tensor *prm[4], *grd[4];    /* parameter and gradient views */
    ctvk_tensor *saved;      /* BN: mean and invstd */
    double rows;             /* BN with synchronised statistics: rows over all ranks */
    /* inference: a BN right after a conv (its only consumer) is folded into the conv's weights */
    int fold_bn;             /* conv: the BN layer folded into it, + 1 (0: none) */
    int folded;              /* BN: folded into the conv before it */
    ctvk_tensor *wf, *bf;    /* conv: the folded weights and bias */
    /* a 3x3 stride-1 conv with Cin >= 64 runs forward as Winograd F(wm x wm, 3x3) (net/wino.c),
     * and in training with Cout >= 64 its backward-data too */
    int wino, wino_bwd, wm;
    /* inference: a residual add reading this conv (its only reader) is done in the conv's epilogue
     * (vin[1] is then the other addend), and so is a batch norm reading the result: zv is its
     * output value (-1: none), zbn its layer + 1, aff its scale and shift (ctvk_bn_affine) */
    int zv, zbn, z_relu, skip_y;
    ctvk_tensor *aff;
    int splitk;              /* dense: forward through the split-K kernel (net->dense_work) */
    ctvk_tensor *wu;         /* its transformed weights (R*R x Cin x Cout); in training a view of the
                              * shared net->wino_u, transformed before each use */
    ctvk_tensor *argmax_all, *argmax;    /* max pool (training) */
    /* batch slices: when one of the layer's tensors is larger than one binding may span, its
     * kernels run over nsl sample ranges; sv[k * NSLOT + slot] is slot's view for slice k */
    int nsl;
    ctvk_tensor **sv;
} xlayer;

/* The batch-shaped tensors a layer's kernels bind. */
enum { SA, SB, SY, SG, SDA, SDB, SARG, SZ, NSLOT };

typedef struct xbuf { size_t elems; ctvk_tensor *t; } xbuf;

struct ctvk_net {
    ctvk_ctx *ctx;
    ctvk_graph g;
    int max_batch, training, n;       /* n: the batch size the views are made for (0: none) */
    xlayer *L;
    xval *V;
    int nv;
    xbuf *abuf, *gbufs;
    int nabuf, ngbuf;
    ctvk_tensor *input;
    ctvk_tensor *params, *grads, *m, *v;
    ctvk_flat fp, fg, fm, fv;
    /* prepared weights (ctvk__net_create_prepared): the parameters and, in `derived`, every weight
     * made from them (folded convs, BN scale/shift, Winograd transforms) as views of two flat
     * tensors, attached after creation; from the weights cache (read only) or to be stored there */
    int prepared;
    ctvk_tensor *derived;
    ctvk_wcache_entry wc;             /* the entry to store at destruction (wc.path NULL: none) */
    int wc_ready;                     /* its parameters are written: the entry may be stored */
    ctvk_nadam opt;
    ctvk_tensor *labels, *probs, *stats, *vstats, *nstats, *dlogits, *work;
    /* Winograd workspaces (transformed inputs, GEMM outputs) and, in training, the transformed
     * weights of the layer at hand (transformed before each use: the weights change every step) */
    ctvk_tensor *wino_v, *wino_m, *wino_u;
    size_t wino_v_count, wino_m_count, wino_u_count;
    ctvk_tensor *dense_work;          /* split-K dense partial sums */
    size_t dense_work_count;
    ctvk_tensor *labels_n, *probs_n, *dlogits_n;
    int logits_value;
    uint64_t bytes;
    uint64_t bind_limit;              /* bytes one binding of a batch tensor may span (0: the device's) */
    uint64_t act_live_peak, grad_live_peak;   /* bytes (max_batch) live at once by liveness */
    /* the step in progress as a part of a bigger batch (ctvk_net_backprop) */
    int part_first, acc_grads;
    float *host_grads;                /* the gradients on the host for the all-reduce (staged devices) */
    int sync_bn;                      /* batch statistics over all ranks (ctvk_dist) */
    /* Grad-CAM (ctvk_net_create_cam): a training-shaped plan run in inference mode, backward from
     * one logit down to layer cam_layer (-1: not a Grad-CAM network), whose output value cam_value
     * is kept; no parameter gradients or optimizer state */
    int cam, cam_layer, cam_value;
};

/* ---------------------------------------------------------------- small helpers */
static inline int root(const ctvk_net *net, int v) { return net->V[v].root; }

static inline size_t per_sample(ctvk_shape s) { return (size_t)s.h * (size_t)s.w * (size_t)s.c; }

/* The whole-batch tensor of a slot (NULL where the layer has none). */
static inline ctvk_tensor *slot_whole(ctvk_net *net, const xlayer *x, int slot)
{
    switch (slot) {
    case SA: return x->vin[0] >= 0 ? net->V[x->vin[0]].t : NULL;
    case SB: return x->vin[1] >= 0 ? net->V[x->vin[1]].t : NULL;
    case SY: return x->vout >= 0 ? net->V[x->vout].t : NULL;
    case SG: return x->vout >= 0 ? net->V[x->vout].g : NULL;
    case SDA: return x->vin[0] >= 0 ? net->V[x->vin[0]].g : NULL;
    case SDB: return x->vin[1] >= 0 ? net->V[x->vin[1]].g : NULL;
    case SZ: return x->zv >= 0 ? net->V[x->zv].t : NULL;
    default: return x->argmax;
    }
}

/* The tensor of a slot for slice k (the whole batch when the layer is not sliced). */
static inline ctvk_tensor *S(ctvk_net *net, const xlayer *x, int slot, int k)
{
    return x->nsl ? x->sv[k * NSLOT + slot] : slot_whole(net, x, slot);
}

static inline ctvk_tensor *T(ctvk_net *net, int v) { return v >= 0 ? net->V[v].t : NULL; }

/* ---------------------------------------------------------------- across the executor's files */
/* exec_plan.c: a Winograd conv's transformed weights and the workspace (floats); the passes of
 * ctvk__exec_net_create in order */
size_t ctvk__exec_wino_weights(const ctvk_net *net, int i);
size_t ctvk__exec_workspace_count(const ctvk_net *net);
ctvk_status ctvk__exec_plan_layers(ctvk_net *net);
void ctvk__exec_plan_fusions(ctvk_net *net);
void ctvk__exec_plan_backward(ctvk_net *net);
ctvk_status ctvk__exec_plan_buffers(ctvk_net *net);
/* exec_memory.c: the budget check, then every planned buffer and per-layer tensor (but the
 * weights of a prepared network); a prepared network's derived weights (floats, in the layout of
 * ctvk__exec_attach_weights) and their attachment as views of params and derived (owned from then on) */
ctvk_status ctvk__exec_alloc_all(ctvk_net *net);
size_t ctvk__exec_derived_count(const ctvk_net *net);
ctvk_status ctvk__exec_attach_weights(ctvk_net *net, ctvk_tensor *params, ctvk_tensor *derived);
/* exec_bind.c: views for a batch of n (a no-op when n is the current one), and dropping them */
void ctvk__exec_drop_views(ctvk_net *net);
ctvk_status ctvk__exec_bind_batch(ctvk_net *net, int n);
/* exec.c: the forward pass (training: batch statistics and dropout), the gradient of a value for
 * writing (and whether to accumulate into it), one layer's backward, creation (cam_layer >= 0: a
 * Grad-CAM network), and the refusal of training calls on networks not made for training */
ctvk_status ctvk__exec_forward(ctvk_net *net, int n, int training, uint64_t seed);
ctvk_tensor *ctvk__exec_grad_out(ctvk_net *net, int v, int *acc);
ctvk_status ctvk__exec_backward_layer(ctvk_net *net, int i, uint64_t seed);
/* exec_dist.c: BN layer i's statistics and backward sums over every rank (x NULL: no samples here) */
ctvk_status ctvk__exec_sync_bn_stats(ctvk_net *net, int i, const ctvk_tensor *x);
ctvk_status ctvk__exec_sync_bn_grads(ctvk_net *net, int i, const ctvk_tensor *x);
/* exec_cam.c: a Grad-CAM network's BN `saved` from the moving statistics in params */
ctvk_status ctvk__exec_cam_saved(ctvk_net *net, const float *params);
ctvk_status ctvk__exec_net_create(ctvk_ctx *ctx, const ctvk_graph *g, int max_batch, int training, int cam_layer,
                                  int alloc, ctvk_net **out);
ctvk_status ctvk__exec_trains(const ctvk_net *net);
#endif
