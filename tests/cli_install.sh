#!/usr/bin/env bash
# `cmake --install` puts the library, headers, ctvk and a pkg-config file under a prefix, and a
# program built against them with pkg-config runs a kernel.
set -eu
: "${CTVK_BUILD_DIR:?}" "${CTVK_SOURCE:?}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cmake --install "$CTVK_BUILD_DIR" --prefix "$T/prefix" >/dev/null
for f in bin/ctvk include/ctvk/ctvk.h include/ctvk/config.h; do
    [ -e "$T/prefix/$f" ] || { echo "FAIL: $f not installed"; echo "cli_install: 0 passed, 1 failed"; exit 1; }
done
pc=$(find "$T/prefix" -name ctvk.pc | head -1)
[ -n "$pc" ] || { echo "FAIL: no ctvk.pc"; echo "cli_install: 0 passed, 1 failed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
cc -std=c11 ${CTVK_EMBED_CFLAGS:-} -o "$T/embed" "$CTVK_SOURCE/tests/embed_example.c" $(pkg-config --cflags --libs --static ctvk)
out=$("$T/embed")
echo "$out"
"$T/prefix/bin/ctvk" help >/dev/null
grep -q "computed 4.5" <<<"$out" && echo "cli_install: 3 passed, 0 failed"
