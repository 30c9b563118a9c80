#!/usr/bin/python3
"""The authors' slice selection in plain numpy + tifffile: the reference of tools/bench-select.sh.

For every sequence folder under ROOT (every folder that holds .tif files), each slice is read whole
with tifffile, count = number of pixels of img[240:340, 120:370] < 300, threshold =
(max(count) - min(count)) / 1.5 and a slice is kept iff count > threshold. Writes the CSV
path,dark_count,threshold,selected (as ctvk select does) and prints the throughput of the best of
--repeat passes."""
import argparse
import os
import sys
import time

import numpy as np
import tifffile


def select(root):
    rows = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        files = sorted(f for f in filenames if f.lower().endswith(('.tif', '.tiff')) and not f.startswith('.'))
        if not files:
            continue
        counts = []
        for f in files:
            img = tifffile.imread(os.path.join(dirpath, f))
            counts.append(int(np.sum(img[240:340, 120:370] < 300)))
        threshold = (max(counts) - min(counts)) / 1.5
        for f, c in zip(files, counts):
            rows.append((os.path.join(dirpath, f), c, threshold, int(c > threshold)))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('root')
    ap.add_argument('--out', help='CSV to write')
    ap.add_argument('--repeat', type=int, default=3)
    a = ap.parse_args()
    best, rows = None, None
    for _ in range(max(1, a.repeat)):
        t0 = time.perf_counter()
        rows = select(a.root)
        dt = time.perf_counter() - t0
        best = dt if best is None or dt < best else best
    if a.out:
        with open(a.out, 'w') as f:
            f.write('path,dark_count,threshold,selected\n')
            for p, c, t, k in rows:
                f.write('%s,%d,%r,%d\n' % (p, c, t, k))
    print('numpy+tifffile: %d slices in %.3f s (%.0f slices/s, best of %d, one thread)'
          % (len(rows), best, len(rows) / best, a.repeat))


if __name__ == '__main__':
    sys.exit(main())
