#!/usr/bin/env bash
# RenderDoc in-application capture: `ctvk smoke --renderdoc` with RenderDoc's library loadable
# writes one .rdc frame and says where. Skipped (exit 77) where librenderdoc.so is not installed.
set -u
BIN=${CTVK_BIN:?}
ldconfig -p | grep -q 'librenderdoc.so ' || [ -e /usr/lib/librenderdoc.so ] || { echo "librenderdoc not installed: skipped"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
out=$(CTVK_VALIDATION=0 CTVK_RENDERDOC_DIR="$T" timeout 300 "$BIN" smoke --renderdoc --elements 4096 2>&1); rc=$?
echo "$out"
f=$(ls "$T"/*.rdc 2>/dev/null | head -1)
pass=0 fail=0
[ "$rc" -eq 0 ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: exit $rc"; }
[ -n "$f" ] && [ -s "$f" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: no capture file in $T"; }
grep -q "RenderDoc capture: $T/.*\.rdc" <<<"$out" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: path not printed"; }
echo "cli_renderdoc: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
