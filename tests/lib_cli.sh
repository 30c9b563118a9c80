# Sourced by the tests/cli_*.sh scripts (not itself a test): the binary, a temporary folder removed on exit, pass/fail
# counters, the checks, and the closing "NAME: N passed, N failed" line.
BIN=${CTVK_BIN:?CTVK_BIN must point at the ctvk binary}
T=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
pass=0 fail=0

# expect CODE PATTERN -- command...: the exit code, and an extended regex found in stdout + stderr
expect() {
    local code=$1 pat=$2; shift 3
    local out rc
    out=$(timeout "${CLI_TIMEOUT:-600}" "$@" 2>&1); rc=$?
    if [ "$rc" -eq "$code" ] && grep -qE -- "$pat" <<<"$out"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $* -> exit $rc (want $code), output:"; echo "$out" | head -8; echo "  (wanted /$pat/)"
    fi
}
# ok DESCRIPTION 'shell condition'
ok() { if eval "$2"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi; }
# check DESCRIPTION command...: the command succeeds
check() {
    local what=$1; shift
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $what"; fi
}
# worst FILE NOISE: the largest difference in a `ctvk compare --tensors` listing among the tensors
# without a gradient (NOISE 1: conv biases that a batch norm normalises, moving means) or with one
# (NOISE 0)
worst() { awk -v noise="$2" '$1 != "" && NF == 3 { is_noise = ($2 == "bias:0" && $1 ~ /_conv$/) || $2 == "moving_mean:0";
          if (is_noise == noise && $3 > m) m = $3 } END { printf "%g\n", m + 0 }' "$1"; }
# finish NAME: the closing line; the script's exit status
finish() { echo "$1: $pass passed, $fail failed"; [ "$fail" -eq 0 ]; }
# good / bad DESCRIPTION: count an outcome decided by the caller ("test ... && good || bad why")
good() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# small_config FILE DATA: the [data] and [model] sections of a tiny training run on the phantom
# dataset in DATA (48x48 slices, a 2-stage small_resnet); the caller appends [train] and the rest.
small_config() {
    cat > "$1" <<INI
[data]
root = $2/flat
folds_dir = $2/folds
series_root = $2/full
image_size = 48
scale = 0.001
[model]
arch = small_resnet
input_size = 48
stages = 2
blocks = 1,1
widths = 4,8
bn_momentum = 0.9
INI
}
