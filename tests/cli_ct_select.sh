#!/usr/bin/env bash
# ctvk select: the CSV and summary on a sequence, a patient and a whole phantom dataset, grouping,
# the contact sheet, the image-size rule and resampling, config errors, usage errors.
set -u
. "$(dirname "$0")/lib_cli.sh"

"$BIN" phantom --out "$T/ph" --covid 1 --normal 1 --slices 8 --series 2 --size 64 --seed 4 >/dev/null || { echo "phantom failed"; exit 1; }
"$BIN" phantom --out "$T/big" --covid 1 --normal 1 --slices 5 --size 512 --seed 4 >/dev/null || { echo "phantom failed"; exit 1; }
SEQ=$T/ph/full/covid1/patient1/SR_2
S64="--set data.image_size=64"

expect 0 "usage: ctvk select PATH" -- "$BIN" select --help
expect 2 "PATH is required" -- "$BIN" select
expect 2 "unknown option '--bogus'" -- "$BIN" select "$SEQ" --bogus
expect 2 "unexpected argument" -- "$BIN" select "$SEQ" "$SEQ"
expect 2 "--group 'slice': expected sequence or patient" -- "$BIN" select "$SEQ" --group slice
expect 2 "--out needs a value" -- "$BIN" select "$SEQ" --out
expect 2 "section.key=value" -- "$BIN" select "$SEQ" --set nodot
expect 1 "cannot read \(No such file or directory\)" -- "$BIN" select "$T/nothing"
mkdir -p "$T/empty"
expect 1 "empty: no slices \(.tif or .tiff files, DICOM files or NIfTI volumes\) found there" -- "$BIN" select "$T/empty"

# [data] values: a bad choice is named
expect 1 "\[data\] values = 'raw'" -- "$BIN" select "$SEQ" $S64 --set data.values=raw
expect 1 "hu_offset" -- "$BIN" select "$SEQ" $S64 --set data.hu_offset=0
# one sequence, CSV to standard output, summary to standard error
out=$("$BIN" select "$SEQ" $S64 2>"$T/err"); rc=$?
ok "sequence: exit 0" '[ $rc -eq 0 ]'
ok "CSV header and 8 rows" '[ "$(head -1 <<<"$out")" = "path,dark_count,threshold,selected" ] && [ "$(wc -l <<<"$out")" -eq 9 ]'
ok "first and last slices removed, middle kept" 'grep -q "IM00001.tif,[0-9]*,[0-9.]*,0$" <<<"$out" && grep -q "IM00008.tif,[0-9]*,[0-9.]*,0$" <<<"$out" && grep -q "IM00004.tif,[0-9]*,[0-9.]*,1$" <<<"$out"'
ok "summary line on stderr" 'grep -qE "^selected [0-9]+ of 8 slices \([0-9.]+%\) in 1 sequence; region rows 30..41, columns 15..45 of 64" "$T/err"'
# the threshold column is (max - min) / 1.5 of the counts column, and selected is count > threshold
ok "threshold and selected follow the rule" 'awk -F, "NR>1 { c[NR]=\$2; t=\$3; s[NR]=\$4; if (NR==2 || \$2>mx) mx=\$2; if (NR==2 || \$2<mn) mn=\$2 } END { want=(mx-mn)/1.5; if (t+0 < want-1e-9 || t+0 > want+1e-9) exit 1; for (i in c) if ((c[i] > want) != s[i]) exit 1 }" <<<"$out"'

# --out: CSV to the file, summary to standard output
expect 0 "^selected [0-9]+ of 32 slices .* in 4 sequences" -- "$BIN" select "$T/ph/full" $S64 --out "$T/all.csv"
ok "whole dataset CSV" '[ "$(wc -l < "$T/all.csv")" -eq 33 ] && ! ls -a "$T" | grep -q "\.tmp-"'
expect 0 "in 2 patients" -- "$BIN" select "$T/ph/full" $S64 --group patient --out "$T/pat.csv"
ok "patient grouping: one threshold per patient" '[ "$(grep patient1 "$T/pat.csv" | cut -d, -f3 | sort -u | wc -l)" -eq 1 ] && [ "$(grep patient1 "$T/all.csv" | cut -d, -f3 | sort -u | wc -l)" -eq 2 ]'
printf '[selection]\ngroup = patient\n[data]\nimage_size = 64\n' > "$T/c.ini"
expect 0 "in 2 patients" -- "$BIN" select "$T/ph/full" --config "$T/c.ini" --out "$T/pat2.csv"
ok "config file and --set agree" 'cmp -s "$T/pat.csv" "$T/pat2.csv"'
expect 0 "in 4 sequences" -- "$BIN" select "$T/ph/full" --config "$T/c.ini" --group sequence --out "$T/seq2.csv"
ok "--group overrides the config" 'cmp -s "$T/all.csv" "$T/seq2.csv"'
expect 0 "in 4 sequences" -- "$BIN" select "$T/ph/flat" $S64 --out "$T/flat.csv"
expect 0 "selected" -- "$BIN" select "$T/ph/full" $S64 --threads 1 --out "$T/t1.csv"
ok "1 thread and many agree" 'cmp -s "$T/all.csv" "$T/t1.csv"'

# the contact sheet
expect 0 "contact sheet: $T/sheet.png" -- "$BIN" select "$SEQ" $S64 --out "$T/s.csv" --montage "$T/sheet.png"
ok "PNG signature" '[ "$(head -c 8 "$T/sheet.png" | od -An -tx1 | tr -d " \n")" = "89504e470d0a1a0a" ]'
expect 1 "--montage draws one sequence, and .* holds 4" -- "$BIN" select "$T/ph/full" $S64 --montage "$T/x.png"
expect 0 "contact sheet" -- "$BIN" select "$T/ph/full/covid1/patient1" $S64 --group patient --montage "$T/p.png" --out "$T/p.csv"
expect 1 "cannot write" -- "$BIN" select "$SEQ" $S64 --out "$T/nodir/x.csv"

# image size: refused by default, resampled on request, the 512 data as is
expect 1 "IM00001.tif: the slice is 64x64, expected 512x512 \(\[data\] image_size = 512; set \[data\] resize = true" -- \
    "$BIN" select "$SEQ"
expect 0 "of 8 slices" -- "$BIN" select "$SEQ" --set data.resize=true --out "$T/r.csv"
expect 0 "selected 3 of 5 slices .* region rows 240..339, columns 120..369 of 512" -- "$BIN" select "$T/big/full/covid1/patient1/SR_2" --out "$T/b.csv"

# config errors
expect 1 "\[selection\] divisor = 0 is out of range" -- "$BIN" select "$SEQ" $S64 --set selection.divisor=0
expect 1 "\[selection\] group = 'slice': expected sequence or patient" -- "$BIN" select "$SEQ" $S64 --set selection.group=slice
expect 1 "region_y0 = 340 must be less than region_y1 = 340" -- "$BIN" select "$SEQ" $S64 --set selection.region_y0=340
expect 1 "\[data\] image_size = 'big' is not an integer" -- "$BIN" select "$SEQ" --set data.image_size=big
expect 1 "config $T/missing.ini: cannot read it" -- "$BIN" select "$SEQ" --config "$T/missing.ini"
# a region and dark level from the config change the counts
expect 0 "dark < 2000" -- "$BIN" select "$SEQ" $S64 --set selection.dark_level=2000 --out "$T/d.csv"
ok "a higher dark level counts more" '[ "$(awk -F, "NR==5{print \$2}" "$T/d.csv")" -gt "$(awk -F, "NR==5{print \$2}" "$T/s.csv")" ]'

finish cli_ct_select
