/* Distributed runs: thin, checked wrappers over MPI (include/ctvk/dist.h). Without CTVK_MPI, or
 * when no MPI launcher started the process, there is one rank and the collectives do nothing. */
#include "ctvk/dist.h"
#include "runtime/base/base.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CTVK_MPI
#include <mpi.h>

static int g_on, g_rank, g_size = 1, g_local;

/* Launchers set one of these in every rank's environment (Open MPI, PMIx, PMI-1/2 as Slurm's srun
 * and MPICH's hydra use). A plain `ctvk train` run does not start MPI (no singleton start-up). */
static int launched(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

static ctvk_status check(int rc, const char *what)
{
    if (rc == MPI_SUCCESS) return CTVK_OK;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
    return ctvk__fail(CTVK_ERR_DIST, "MPI: %s failed on rank %d of %d: %s", what, g_rank, g_size, msg);
}

ctvk_status ctvk_dist_init(int *argc, char ***argv)
{
    if (g_on || !launched()) return CTVK_OK;
    /* only the main thread calls MPI (the loader's threads never do): FUNNELED, which every MPI
     * library provides in practice; SINGLE would be enough for the calls themselves */
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return ctvk__fail(CTVK_ERR_DIST, "MPI: MPI_Init failed (started by an MPI launcher, but MPI cannot start)");
    g_on = 1;
    /* errors come back as return codes, to be reported with the rank */
    ctvk_status s = check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    if (!s) s = check(MPI_Comm_rank(MPI_COMM_WORLD, &g_rank), "MPI_Comm_rank");
    if (!s) s = check(MPI_Comm_size(MPI_COMM_WORLD, &g_size), "MPI_Comm_size");
    MPI_Comm node;
    if (!s) s = check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &node),
                      "MPI_Comm_split_type");
    if (!s) {
        s = check(MPI_Comm_rank(node, &g_local), "MPI_Comm_rank (node)");
        MPI_Comm_free(&node);
    }
    if (s) {
        MPI_Finalize();
        g_on = 0, g_rank = 0, g_size = 1;
    }
    return s;
}

void ctvk_dist_finalize(void)
{
    if (g_on) MPI_Finalize();
    g_on = 0;
}

void ctvk_dist_abort(int code)
{
    if (g_on && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

int ctvk_dist_world_size(void) { return g_size; }
int ctvk_dist_world_rank(void) { return g_rank; }

static int g_solo, g_agreed;

void ctvk_dist_solo(int on) { g_solo = on != 0; }
int ctvk_dist_failure_agreed(void) { return g_agreed; }
int ctvk_dist_rank(void) { return g_solo ? 0 : g_rank; }
int ctvk_dist_size(void) { return g_solo ? 1 : g_size; }
int ctvk_dist_local_rank(void) { return g_local; }
int ctvk_dist_enabled(void) { return g_on && g_size > 1 && !g_solo; }

/* MPI counts are ints: large arrays go in chunks. */
#define CHUNK ((size_t)1 << 26)

static ctvk_status reduce(void *data, size_t n, MPI_Datatype type, size_t size, MPI_Op op, const char *what)
{
    if (!ctvk_dist_enabled()) return CTVK_OK;
    for (size_t at = 0; at < n; at += CHUNK) {
        size_t k = n - at < CHUNK ? n - at : CHUNK;
        CTVK_TRY(check(MPI_Allreduce(MPI_IN_PLACE, (char *)data + at * size, (int)k, type, op, MPI_COMM_WORLD), what));
    }
    return CTVK_OK;
}

ctvk_status ctvk_dist_sum_f32(float *d, size_t n) { return reduce(d, n, MPI_FLOAT, 4, MPI_SUM, "MPI_Allreduce (sum)"); }

/* The double reductions feed decisions every rank must take alike (early stopping, the best epoch,
 * batch-norm statistics): rank 0's result goes to all, so the bits are the same everywhere. */
static ctvk_status reduce_same(double *d, size_t n, MPI_Op op, const char *what)
{
    CTVK_TRY(reduce(d, n, MPI_DOUBLE, 8, op, what));
    return ctvk_dist_bcast(d, n * sizeof *d);
}

ctvk_status ctvk_dist_sum_f64(double *d, size_t n) { return reduce_same(d, n, MPI_SUM, "MPI_Allreduce (sum)"); }
ctvk_status ctvk_dist_max_f64(double *d, size_t n) { return reduce_same(d, n, MPI_MAX, "MPI_Allreduce (max)"); }

ctvk_status ctvk_dist_bcast(void *data, size_t bytes)
{
    if (!ctvk_dist_enabled()) return CTVK_OK;
    for (size_t at = 0; at < bytes; at += CHUNK) {
        size_t k = bytes - at < CHUNK ? bytes - at : CHUNK;
        CTVK_TRY(check(MPI_Bcast((char *)data + at, (int)k, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast"));
    }
    return CTVK_OK;
}

ctvk_status ctvk_dist_same_u64(uint64_t v, int *same)
{
    *same = 1;
    if (!ctvk_dist_enabled()) return CTVK_OK;
    uint64_t lo = v, hi = v;
    CTVK_TRY(check(MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce (min)"));
    CTVK_TRY(check(MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce (max)"));
    *same = lo == hi;
    return CTVK_OK;
}

ctvk_status ctvk_dist_agree(ctvk_status s)
{
    if (!ctvk_dist_enabled()) return s;
    int first = s ? g_rank : g_size;
    CTVK_TRY(check(MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce (agree)"));
    g_agreed = first != g_size;
    if (!g_agreed) return CTVK_OK;
    /* the first failing rank's message reaches every rank (rank 0 prints it) */
    char msg[CTVK_ERROR_MAX];
    int code = s;
    snprintf(msg, sizeof msg, "%s", g_rank == first ? ctvk_error() : "");
    CTVK_TRY(check(MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, MPI_COMM_WORLD), "MPI_Bcast (agree)"));
    CTVK_TRY(check(MPI_Bcast(&code, 1, MPI_INT, first, MPI_COMM_WORLD), "MPI_Bcast (agree)"));
    if (g_rank == first) return s;
    return ctvk__fail(code ? (ctvk_status)code : CTVK_ERR_DIST, "rank %d: %s", first, msg);
}

#else /* one rank */

ctvk_status ctvk_dist_init(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 1)
            return ctvk__fail(CTVK_ERR_UNSUPPORTED, "started by an MPI launcher with %s ranks, but this ctvk was built "
                              "without MPI: rebuild with cmake -DCTVK_MPI=ON (Debian: libopenmpi-dev)", v);
    }
    return CTVK_OK;
}
void ctvk_dist_finalize(void) {}
void ctvk_dist_abort(int code) { (void)code; }
void ctvk_dist_solo(int on) { (void)on; }
int ctvk_dist_failure_agreed(void) { return 0; }
int ctvk_dist_world_size(void) { return 1; }
int ctvk_dist_world_rank(void) { return 0; }
int ctvk_dist_rank(void) { return 0; }
int ctvk_dist_size(void) { return 1; }
int ctvk_dist_local_rank(void) { return 0; }
int ctvk_dist_enabled(void) { return 0; }
ctvk_status ctvk_dist_sum_f32(float *d, size_t n) { (void)d, (void)n; return CTVK_OK; }
ctvk_status ctvk_dist_sum_f64(double *d, size_t n) { (void)d, (void)n; return CTVK_OK; }
ctvk_status ctvk_dist_max_f64(double *d, size_t n) { (void)d, (void)n; return CTVK_OK; }
ctvk_status ctvk_dist_bcast(void *data, size_t bytes) { (void)data, (void)bytes; return CTVK_OK; }
ctvk_status ctvk_dist_same_u64(uint64_t v, int *same) { (void)v; *same = 1; return CTVK_OK; }
ctvk_status ctvk_dist_agree(ctvk_status s) { return s; }

#endif
