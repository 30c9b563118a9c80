/* Distributed runs over MPI: data-parallel training (each rank takes its share of every global
 * batch on its own device, gradients are summed across ranks) and folds spread over ranks.
 *
 * Built with -DCTVK_MPI=ON (Debian libopenmpi-dev) these functions use MPI_COMM_WORLD; without it,
 * or when the program was not started by an MPI launcher (mpirun, mpiexec, srun), there is one
 * rank and every collective is the identity, so callers need no #ifdef.
 *
 * Contract of the collectives: every rank calls the same collectives in the same order (they
 * block until all ranks arrive). A rank that fails must still take part in the next agreement
 * (ctvk_dist_agree) so that every rank stops together instead of waiting for ever. */
#ifndef CTVK_DIST_H
#define CTVK_DIST_H
#include "ctvk.h"
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Starts MPI when the process was launched by an MPI launcher (and the build has MPI); safe to
 * call once at program start. Fails with a clear message when MPI is required but unavailable. */
ctvk_status ctvk_dist_init(int *argc, char ***argv);
/* Ends MPI (if started). A failing rank calls ctvk_dist_abort instead when others may wait on it. */
void ctvk_dist_finalize(void);
/* Stops every rank (MPI_Abort) with the exit code: for errors that other ranks cannot learn of. */
void ctvk_dist_abort(int code);
int ctvk_dist_rank(void);        /* 0 .. size - 1 */
int ctvk_dist_size(void);        /* 1 without MPI */
int ctvk_dist_local_rank(void);  /* rank among the ranks of this machine (device choice) */
int ctvk_dist_enabled(void);     /* 1 when running under MPI with more than one rank */
/* The world, whatever solo mode says (ctvk cv spreads its folds over it). */
int ctvk_dist_world_rank(void);
int ctvk_dist_world_size(void);

/* In-place sums across ranks, in chunks (MPI counts are ints). Every rank gets the same bits
 * (MPI_Allreduce combines the ranks' values in the same order on every rank in Open MPI's
 * algorithms; the trainer's per-epoch weight checksum verifies that the ranks stay identical). */
ctvk_status ctvk_dist_sum_f32(float *data, size_t n);
/* The same in double, and the maximum: the result is rank 0's, broadcast, so that decisions taken
 * from it are the same on every rank whatever the MPI library's reduction order. */
ctvk_status ctvk_dist_sum_f64(double *data, size_t n);
ctvk_status ctvk_dist_max_f64(double *data, size_t n);
/* Rank 0's bytes to every rank. */
ctvk_status ctvk_dist_bcast(void *data, size_t bytes);
/* Whether every rank holds the same value (e.g. a weight checksum). */
ctvk_status ctvk_dist_same_u64(uint64_t v, int *same);
/* Solo mode (on != 0): this rank works alone, as a run of one rank (rank 0 of 1, collectives do
 * nothing) until solo mode is switched off again: `ctvk cv` trains its folds this way, a fold per
 * rank, and gathers the results afterwards. */
void ctvk_dist_solo(int on);
/* Whether every rank knows of the last failure (the last ctvk_dist_agree failed): then the ranks can end
 * together (ctvk_dist_finalize) and only rank 0 needs to print it; otherwise a failing rank must
 * stop the others with ctvk_dist_abort. */
int ctvk_dist_failure_agreed(void);
/* Agreement after a step that may fail on some ranks: returns CTVK_OK when `s` is CTVK_OK on every
 * rank; otherwise every rank returns a failure: the failing rank keeps its own message, the
 * others get "rank R failed" (R the lowest failing rank). */
ctvk_status ctvk_dist_agree(ctvk_status s);

#ifdef __cplusplus
}
#endif
#endif
