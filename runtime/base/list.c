/* The one integer-list parser (rules in runtime/base/list.h). */
#include "runtime/base/list.h"
#include <errno.h>
#include <stdlib.h>

int ctvk__parse_ints(const char *text, int *out, int max, long lo, long hi)
{
    const char *p = text;
    int n = 0;
    while (*p == ' ') p++;
    while (*p) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < lo || x > hi || n == max) return -1;
        out[n++] = (int)x;
        p = end;
        while (*p == ' ') p++;
        if (*p == ',') p++;
        while (*p == ' ') p++;
        if (*p == ',') return -1;     /* an empty item */
    }
    return n;
}
