#!/usr/bin/env bash
# Grad-CAM through the binary: `ctvk infer --cam` writes per slice a float TIFF map (its maximum 1,
# its peak where the JSON says, in slice pixels) and PNG overlays, with the classification's P(COVID);
# refuses a non-empty folder, an unknown layer and --cam-layer alone without writing anything;
# `ctvk eval` writes each test patient's top slice (eval_cam.csv, cam/), `[eval] cam = false` none;
# the report shows the gallery, and headless Chromium decodes every image in it.
set -u
. "$(dirname "$0")/lib_cli.sh"
FIXTURE=${CTVK_BUILD_DIR:-.}/test_eval
[ -x "$FIXTURE" ] || { echo "cli_cam: $FIXTURE not built; skipping"; exit 77; }
PY=
for p in python3 /usr/bin/python3; do command -v "$p" >/dev/null && "$p" -c "import json" 2>/dev/null && { PY=$p; break; }; done
[ -n "$PY" ] || { echo "cli_cam: python3 missing; skipping"; exit 77; }

"$BIN" phantom --out "$T/ph" --covid 5 --normal 5 --slices 4 --size 64 --seed 5 >/dev/null || { echo "phantom failed"; exit 1; }
CK=$T/ck.ckpt
"$FIXTURE" --fixture "$CK" 64 || { echo "cannot write the checkpoint"; exit 1; }
P=$(ls -d "$T"/ph/full/covid*/* | head -1)

# the maps against the JSON: the TIFF's floats (uncompressed, little-endian strips), their
# maximum and its cell, the overlay's size; prints "ok" or what is wrong
check_cams() {
    "$PY" - "$1" <<'PYEOF'
import json, struct, sys
j = json.load(open(sys.argv[1]))
def tiff(path):
    d = open(path, "rb").read()
    assert d[:4] == b"II*\x00", "not a little-endian TIFF"
    off = struct.unpack("<I", d[4:8])[0]; n = struct.unpack("<H", d[off:off + 2])[0]; tags = {}
    for k in range(n):
        t, typ, cnt, val = struct.unpack("<HHII", d[off + 2 + 12 * k: off + 14 + 12 * k])
        if typ == 3 and cnt == 1: val &= 0xFFFF
        tags[t] = (cnt, val)
    w, h = tags[256][1], tags[257][1]
    assert tags[258][1] == 32 and tags[339][1] == 3, "not 32-bit float samples"
    assert tags[259][1] == 1, "compressed"
    cnt, so = tags[273]
    offs = [so] if cnt == 1 else list(struct.unpack("<%dI" % cnt, d[so:so + 4 * cnt]))
    data = b"".join(d[o:o + 4 * w * h] for o in offs)[:4 * w * h]
    return w, h, struct.unpack("<%df" % (w * h), data)
def png_size(path):
    d = open(path, "rb").read(32)
    assert d[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", d[16:24])
size = 64
mh, mw = j["cam_map_size"]
for s in j["slices"]:
    c = s["cam"]
    w, h, v = tiff(c["map"])
    assert (h, w) == (mh, mw), "map %dx%d, JSON says %dx%d" % (h, w, mh, mw)
    assert abs(c["prob_covid"] - s["prob_covid"]) < 1e-5, "P(COVID) %g vs %g" % (c["prob_covid"], s["prob_covid"])
    assert min(v) >= 0 and max(v) <= 1
    if c["peak_x"] is None:
        assert max(v) == 0 and c["max"] == 0
    else:
        k = max(range(len(v)), key=lambda i: v[i])
        assert v[k] == 1.0, "the map's maximum is %g, not 1" % v[k]
        assert c["peak_x"] == int((k % w + 0.5) * size / w) and c["peak_y"] == int((k // w + 0.5) * size / h), "peak"
    ow, oh = png_size(c["overlay"])
    assert (ow, oh) == (256 + 70, 256 + 22), "overlay %dx%d" % (ow, oh)
print("ok %d %dx%d" % (len(j["slices"]), mh, mw))
PYEOF
}

out=$("$BIN" infer --checkpoint "$CK" "$P" --no-select --json --cam "$T/cams" 2>"$T/err"); rc=$?
ok "infer --cam exits 0" '[ $rc -eq 0 ]' || tail -3 "$T/err"
echo "$out" > "$T/infer.json"
res=$(check_cams "$T/infer.json" 2>&1)
ok "maps, peaks, probabilities and overlays agree with the JSON ($res)" '[ "${res%% *}" = ok ] && [ "$(echo "$res" | cut -d" " -f2)" -eq 4 ]'
ok "three files per slice" '[ "$(ls "$T/cams" | wc -l)" -eq 12 ] && [ "$(ls "$T/cams"/*.cam.tiff | wc -l)" -eq 4 ]'
sum=$(cat "$T"/cams/* | sha256sum)
expect 1 "cams is not empty: give a new or empty folder" -- "$BIN" infer --checkpoint "$CK" "$P" --no-select --cam "$T/cams"
ok "the earlier maps are untouched" '[ "$(cat "$T"/cams/* | sha256sum)" = "$sum" ]'
expect 1 "--cam-layer 'no_such': small_resnet has no layer of that name" -- "$BIN" infer --checkpoint "$CK" "$P" --cam "$T/c2" --cam-layer no_such
ok "nothing written for an unknown layer" '[ -z "$(ls -A "$T/c2" 2>/dev/null)" ]'
expect 2 "--cam-layer needs --cam DIR" -- "$BIN" infer --checkpoint "$CK" "$P" --cam-layer post_relu
expect 1 "cam.*exists and is not a folder" -- "$BIN" infer --checkpoint "$CK" "$P" --cam "$CK"
out=$("$BIN" infer --checkpoint "$CK" "$P" --no-select --json --cam "$T/c3" --cam-layer conv2_block1_1_conv 2>/dev/null)
echo "$out" > "$T/infer3.json"
res3=$(check_cams "$T/infer3.json" 2>&1)
ok "another layer, another resolution ($res3 against $res)" '[ "${res3%% *}" = ok ] && [ "${res3##* }" != "${res##* }" ]'
txt=$("$BIN" infer --checkpoint "$CK" "$P" --no-select --cam "$T/c4" 2>&1)
ok "the text output lists the overlays and their peaks" 'grep -qE "^Grad-CAM of COVID at post_relu \([0-9]+x[0-9]+\) in " <<<"$txt" && [ "$(grep -cE "cam.png  (peak at x [0-9]+, y [0-9]+|empty)" <<<"$txt")" -eq 4 ]'

# eval: each patient's top slice
{ sed "s|^folds_dir = .*|folds_dir = $T/ph/folds|" "$T/ph/dataset.ini"; printf 'scale = 0.001\noffset = -1\n[eval]\nbatch = 4\nbootstrap = 50\n'; } > "$T/c.ini"
mkdir -p "$T/run/fold1"
cp "$CK" "$T/run/fold1/best.ckpt"
expect 0 "eval_cam.csv and cam/" -- "$BIN" eval "$T/c.ini" --checkpoint "$T/run/fold1/best.ckpt" --fold 1 --out "$T/run/fold1"
top=$("$PY" - "$T/run/fold1" <<'PYEOF'
import csv, os, sys
d = sys.argv[1]
best = {}
for r in csv.DictReader(open(d + "/eval_images.csv")):
    p = float(r["prob_covid"])
    if r["patient"] not in best or p > best[r["patient"]][0]: best[r["patient"]] = (p, r["path"])
rows = list(csv.DictReader(open(d + "/eval_cam.csv")))
good = len(rows) == len(best) and all(best[r["patient"]][1] == r["path"] and
       abs(best[r["patient"]][0] - float(r["prob_covid"])) < 1e-9 and
       all(os.path.getsize(os.path.join(d, r[k])) > 100 for k in ("slice_png", "overlay_png", "map_tiff")) for r in rows)
print("%s %d" % ("ok" if good else "bad", len(rows)))
PYEOF
)
ok "one row per test patient, its top slice, files present ($top)" '[ "${top%% *}" = ok ] && [ "${top##* }" -ge 1 ]'
expect 0 "wrote .*eval_patients.csv, eval_roc.csv, eval_reliability.csv$" -- "$BIN" eval "$T/c.ini" --checkpoint "$CK" --fold 1 --out "$T/e2" --set eval.cam=false
ok "[eval] cam = false: no gallery" '[ ! -e "$T/e2/eval_cam.csv" ] && [ ! -e "$T/e2/cam" ]'

expect 0 "report: " -- "$BIN" report "$T/run"
H=$T/run/report.html
n=$(grep -o 'alt="Grad-CAM overlay"' "$H" | wc -l)
ok "the report's gallery holds the top slices ($n overlays)" '[ "$n" -eq "${top##* }" ] && grep -q "Grad-CAM: each test patient" "$H"'
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$CHROME" ]; then
    SHOTS=${CTVK_BUILD_DIR:-.}/test-output/cli_cam
    mkdir -p "$SHOTS"
    rm -f "$SHOTS/report.png"
    # the report with a probe that counts the images the browser decoded
    sed 's|</body>|<script>window.onload=function(){var n=0,b=0;for(const i of document.images){if(i.complete\&\&i.naturalWidth>0)n++;else b++;}document.body.insertAdjacentHTML("beforeend","<p id=probe>decoded "+n+" broken "+b+"</p>");};</script></body>|' "$H" > "$T/probe.html"
    dom=$(timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
        --disable-sync --no-first-run --user-data-dir="$T/chrome" --virtual-time-budget=5000 --dump-dom "file://$T/probe.html" 2>/dev/null)
    probe=$(grep -oE "decoded [0-9]+ broken [0-9]+" <<<"$dom")
    ok "Chromium decodes every image of the report ($probe)" '[ -n "$probe" ] && [ "${probe##* }" -eq 0 ] && [ "$(echo "$probe" | cut -d" " -f2)" -ge $((2 * n)) ]'
    timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
        --disable-sync --no-first-run --user-data-dir="$T/chrome2" --screenshot="$SHOTS/report.png" --window-size=1200,6000 \
        "file://$H" >/dev/null 2>&1
    ok "Chromium renders the report ($SHOTS/report.png)" '[ -s "$SHOTS/report.png" ]'
    cp "$H" "$SHOTS/report.html" 2>/dev/null
    cp "$T"/cams/001_*.cam.png "$SHOTS/" 2>/dev/null
else
    echo "cli_cam: chromium not installed: the browser check is skipped"
fi
finish cli_cam
