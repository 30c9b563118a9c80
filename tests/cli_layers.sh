#!/usr/bin/env bash
# The layer check (cmake/check_layers.cmake, run by every build): the tree as it is passes; an
# upward include (net/ reading the trainer, CT data reading the Vulkan layer) and a private header
# in tools/ each fail it, naming the file and what its layer may include.
set -u
. "$(dirname "$0")/lib_cli.sh"
SRC=${CTVK_SOURCE:?}
CHECK=$SRC/cmake/check_layers.cmake
mkdir -p "$T/src"
cp -r "$SRC/runtime" "$SRC/net" "$SRC/tools" "$SRC/include" "$T/src/"
expect 0 "" -- cmake -DSRC="$T/src" -P "$CHECK"
plant() {   # FILE INCLUDE: a copy of the tree with one more include in FILE
    rm -rf "$T/bad"; cp -r "$T/src" "$T/bad"
    printf '#include "%s"\n' "$2" >> "$T/bad/$1"
}
plant net/graph.c runtime/train/trainer.h
expect 1 "net/graph.c: #include \"runtime/train/trainer.h\" \(layer net may include" -- cmake -DSRC="$T/bad" -P "$CHECK"
plant runtime/ct/tiff.c runtime/vk/internal.h
expect 1 "runtime/ct/tiff.c: #include \"runtime/vk/internal.h\"" -- cmake -DSRC="$T/bad" -P "$CHECK"
plant runtime/base/list.c net/ops.h
expect 1 "runtime/base/list.c: #include \"net/ops.h\"" -- cmake -DSRC="$T/bad" -P "$CHECK"
plant tools/cmd_infer.c runtime/base/fileio.h
expect 1 "tools/cmd_infer.c: #include \"runtime/base/fileio.h\" \(layer tools may include: ctvk/;tools/\)" -- cmake -DSRC="$T/bad" -P "$CHECK"
plant tools/cmd_report.c ctvk/util.h
expect 0 "" -- cmake -DSRC="$T/bad" -P "$CHECK"
finish cli_layers
