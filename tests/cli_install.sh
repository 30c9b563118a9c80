#!/usr/bin/env bash
# `cmake --install` puts the library, headers, ctvk, its GDCM module and a pkg-config file under a
# prefix, and a program built against them with pkg-config runs a kernel; the installed ctvk, with
# the build tree out of its reach, writes and reads DICOM through the installed module.
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
mod=$(find "$T/prefix" -name libctvk-gdcm.so | head -1)
[ -n "$mod" ] || { echo "FAIL: no libctvk-gdcm.so installed"; echo "cli_install: 2 passed, 1 failed"; exit 1; }
[ "$(pkg-config --variable=gdcm_module ctvk)" -ef "$mod" ] \
    || { echo "FAIL: pkg-config's gdcm_module does not name $mod"; echo "cli_install: 2 passed, 1 failed"; exit 1; }
mv "$T/prefix" "$T/moved"   # a relocated tree finds its own module
"$T/moved/bin/ctvk" phantom --out "$T/dcm" --covid 1 --normal 0 --slices 3 --size 32 --format dicom >/dev/null
sel=$("$T/moved/bin/ctvk" select "$T/dcm/full" --set data.image_size=32 2>&1) || { echo "$sel"; echo "FAIL: the installed ctvk cannot read DICOM"; echo "cli_install: 4 passed, 1 failed"; exit 1; }
grep -q "computed 4.5" <<<"$out" && echo "cli_install: 5 passed, 0 failed"
