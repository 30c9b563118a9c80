/* The monotonic clock, in seconds: timings and progress. */
#include "runtime/base/base.h"
#include <time.h>

double ctvk__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
