#!/usr/bin/env bash
# Clinical input through the binary: a phantom written as DICOM series (uncompressed, RLE, JPEG-LS;
# shuffled names; a localizer) and as NIfTI volumes selects exactly what its TIFF twin selects;
# `ctvk infer` classifies a DICOM study (one series chosen) and a NIfTI volume end to end; `ctvk eval`
# reads a dataset whose series_root is DICOM; every refusal names the file and the reason: not
# DICOM, not CT, truncated, unsupported compression, several series without a choice, gaps and
# duplicate positions.
set -u
. "$(dirname "$0")/lib_cli.sh"
FIXTURE=${CTVK_BUILD_DIR:-.}/test_eval
[ -x "$FIXTURE" ] || { echo "cli_ct_dicom: $FIXTURE not built; skipping"; exit 77; }

PH="--covid 1 --normal 1 --slices 8 --series 3 --size 64 --seed 4"
"$BIN" phantom --out "$T/tif" $PH >/dev/null || { echo "phantom failed"; exit 1; }
expect 0 "3 sequences of 8 slices" -- "$BIN" phantom --out "$T/dcm" $PH --format dicom
expect 0 "3 sequences of 8 slices" -- "$BIN" phantom --out "$T/nii" $PH --format nifti
expect 2 "--format 'png': expected tiff, dicom or nifti" -- "$BIN" phantom --out "$T/x" --format png
S64="--set data.image_size=64"
STUDY=$T/dcm/full/covid1/patient1
ok "DICOM: shuffled names, 3 series + a localizer in one folder" '[ "$(ls "$STUDY" | wc -l)" -eq 25 ] && ! ls "$STUDY" | grep -q IM0'
ok "NIfTI: one volume per sequence" '[ -s "$T/nii/full/covid1/patient1/SR_2.nii.gz" ] && [ -s "$T/nii/full/normal1/patient2/SR_4.nii.gz" ]'

# selection counts exactly what the TIFF slices give, series by series
"$BIN" select "$T/tif/full" $S64 --out "$T/tif.csv" >/dev/null
expect 0 "note: skipped series 1 'Topogram 0.6 T20f' .*: a localizer" -- "$BIN" select "$T/dcm/full" $S64 --out "$T/dcm.csv"
expect 0 "selected 24 of 48 slices .* in 6 sequences" -- "$BIN" select "$T/nii/full" $S64 --out "$T/nii.csv"
ok "DICOM (3 transfer syntaxes, per-slice rescale) counts = TIFF counts" 'cmp -s <(cut -d, -f2- "$T/tif.csv") <(cut -d, -f2- "$T/dcm.csv")'
ok "NIfTI counts = TIFF counts" 'cmp -s <(cut -d, -f2- "$T/tif.csv") <(cut -d, -f2- "$T/nii.csv")'
ok "NIfTI slices are named volume#k" 'grep -q "SR_2.nii.gz#0," "$T/nii.csv" && grep -q "SR_4.nii.gz#7," "$T/nii.csv"'
expect 0 "selected [0-9]+ of 8 slices .* in 1 sequence" -- "$BIN" select "$STUDY" $S64 --series 2 --out "$T/one.csv"
ok "--series 2 is the RLE series (SR_3's counts)" 'cmp -s <(grep patient1/SR_3 "$T/tif.csv" | cut -d, -f2-) <(tail -n +2 "$T/one.csv" | cut -d, -f2-)'
expect 1 "no series 'nope' there \(it holds 3" -- "$BIN" select "$STUDY" $S64 --series nope
# other sizes go through [data] resize
expect 1 "is 64x64, expected 32x32 .*resize = true" -- "$BIN" select "$STUDY" --set data.image_size=32 --series 1
expect 0 "selected" -- "$BIN" select "$STUDY" --set data.image_size=32 --set data.resize=true --series 1 --out "$T/r.csv"

# infer end to end (a tiny untrained checkpoint: the path through the network is what is tested)
"$FIXTURE" --fixture "$T/ck.ckpt" 64 || { echo "cannot write the checkpoint"; exit 1; }
# (the fixture's network records its input transform, scale 0.001 and offset -1, which infer applies)
printf '[eval]\nbatch = 4\n' > "$T/c.ini"
expect 1 "patient patient1 has 3 series; choose one with --series" -- "$BIN" infer --checkpoint "$T/ck.ckpt" "$STUDY" --config "$T/c.ini"
out=$("$BIN" infer --checkpoint "$T/ck.ckpt" "$STUDY" --config "$T/c.ini" --series 3 2>&1); rc=$?
ok "infer on a DICOM study: exit 0" '[ $rc -eq 0 ]'
ok "infer names the series, its slices and the kept ones by InstanceNumber and position" 'grep -qE "^series 4 .Lung 2.5 I70f \(JPEG-LS lossless\). \(2\.25\.[0-9]+\): 8 slices, kept [0-9]+: #[0-9]+ \(-[0-9.]+ mm\)" <<<"$out"'
ok "infer notes the skipped localizer" 'grep -q "^note: skipped series 1" <<<"$out"'
ok "infer decides" 'grep -qE "^decision: (COVID|normal)$" <<<"$out"'
kept=$(grep patient1/SR_4 "$T/tif.csv" | grep -c ",1$")
ok "infer classifies the slices selection keeps" 'grep -qE "selection kept $kept " <<<"$out"'
out=$("$BIN" infer --checkpoint "$T/ck.ckpt" "$STUDY" --config "$T/c.ini" --series 1 --json 2>&1); rc=$?
ok "infer --json: the series, the kept slices' InstanceNumber and position, the notes" '[ $rc -eq 0 ] && grep -qE "\"series\": \[\{\"name\": .*\"kind\": \"dicom\", \"uid\": \"2\.25\.[0-9]+\", \"description\": \"Lung 2.5 B70f \(uncompressed\)\", \"number\": 2, \"slices\": 8, \"kept\": [1-9]" <<<"$out" && grep -qE "\"instance\": [0-9]+, \"position_mm\": -[0-9.]+\}" <<<"$out" && grep -q "\"notes\": \[\"skipped series 1" <<<"$out"'
out=$("$BIN" infer --checkpoint "$T/ck.ckpt" "$T/nii/full/covid1/patient1/SR_2.nii.gz" --config "$T/c.ini" --json 2>&1); rc=$?
ok "infer on a NIfTI volume: exit 0, JSON" '[ $rc -eq 0 ] && grep -qE "\"slices_classified\": [1-9][0-9]*, .*\"decision\": \"(covid|normal)\"" <<<"$out"'

# eval on a dataset whose series are DICOM
"$BIN" phantom --out "$T/ds" --covid 5 --normal 5 --slices 6 --size 32 --seed 3 --format dicom >/dev/null || { echo "phantom failed"; exit 1; }
mkdir -p "$T/run/fold1"
"$FIXTURE" --fixture "$T/run/fold1/best.ckpt" 32 || { echo "cannot write the checkpoint"; exit 1; }
{ cat "$T/ds/dataset.ini"; printf '[eval]\nbatch = 4\nselection = true\n'; } > "$T/e.ini"
expect 0 "Fold 1 " -- "$BIN" eval "$T/e.ini" --checkpoint "$T/run/fold1/best.ckpt" --fold 1

# refusals, each naming the file and the reason
mkdir -p "$T/bad"
echo "not an image" > "$T/bad/notes.txt"
expect 1 "notes.txt: not a slice ctvk reads: not a TIFF file .*not a DICOM file \(no 'DICM' at byte 128\)" -- "$BIN" select "$T/bad/notes.txt" $S64
python3 - "$STUDY" "$T/bad" <<'PY'
import glob, os, sys
study, bad = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(study + '/*'))
def ts(f): return open(f, 'rb').read()
for d in ('mr', 'trunc', 'jpip', 'gap', 'dup'): os.makedirs(os.path.join(bad, d), exist_ok=True)
native = [f for f in files if b'1.2.840.10008.1.2.1\x00' in ts(f) and b'LOCALIZER' not in ts(f)]
jpegls = [f for f in files if b'1.2.840.10008.1.2.4.80' in ts(f)]
b = ts(native[0]); i = b.find(b'\x08\x00\x60\x00CS\x02\x00CT')
open(bad + '/mr/a.dcm', 'wb').write(b[:i] + b'\x08\x00\x60\x00CS\x02\x00MR' + b[i + 10:])
open(bad + '/trunc/b.dcm', 'wb').write(b[:len(b) - 1000])
open(bad + '/jpip/c.dcm', 'wb').write(ts(jpegls[0]).replace(b'1.2.840.10008.1.2.4.80', b'1.2.840.10008.1.2.4.94', 1))
# one series (the uncompressed one): all but its 4th slice by position, and all plus a copy of one
def z(f):
    b = ts(f); i = b.find(b'\x20\x00\x32\x00DS'); n = b[i + 6] | b[i + 7] << 8
    return float(b[i + 8:i + 8 + n].split(b'\\')[2])
native.sort(key=z, reverse=True)
for k, f in enumerate(native):
    if k != 3: open(bad + '/gap/' + os.path.basename(f), 'wb').write(ts(f))
    open(bad + '/dup/' + os.path.basename(f), 'wb').write(ts(f))
open(bad + '/dup/copy_of_one', 'wb').write(ts(native[5]))
PY
expect 1 "mr: no CT image series there \(skipped series 2 .*: modality MR, not CT" -- "$BIN" select "$T/bad/mr" $S64
expect 1 "trunc/b.dcm: truncated: the pixel data declares 8192 bytes" -- "$BIN" select "$T/bad/trunc" $S64
expect 1 "jpip/c.dcm: unsupported compression: transfer syntax 1.2.840.10008.1.2.4.94 \(JPIP referenced\)" -- "$BIN" select "$T/bad/jpip" $S64
expect 1 "DICOM series 2 .*: a gap of 5 mm between .* \(-5.000 mm\) and .* \(-10.000 mm\); the spacing elsewhere is 2.5 mm" -- "$BIN" select "$T/bad/gap" $S64
expect 1 "DICOM series 2 .*: two slices at the same position -12.500 mm along the slice normal: .*(copy_of_one|dcm) and .*(copy_of_one|dcm) \(duplicates\)" -- "$BIN" select "$T/bad/dup" $S64
expect 1 "trunc/b.dcm: truncated" -- "$BIN" infer --checkpoint "$T/ck.ckpt" "$T/bad/trunc" --config "$T/c.ini"
finish cli_ct_dicom
