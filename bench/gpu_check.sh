#!/usr/bin/env bash
# The prepared GPU check (issue 13): everything a lent GPU machine should run,
# in one call of at most 9 minutes, each step under its own timeout, writing
# into one folder:
#
#   summary.md   what ran, how long, what passed; the probes' and the benchmark's tables
#   log.txt      every step's output, in order
#   junit.xml    the GPU tests (junit-slow.xml: the slow ones)
#   probes.json  bench/gpu_probes.py's results
#   bench.json   the short GPU benchmark (pytest-benchmark)
#
# Usage:  bench/gpu_check.sh [--device gpu|cpu] [OUTDIR]     (OUTDIR: else $OUT, else ./gpu-check-out)
#
# --device cpu is the dry run: the same steps on CPU backends, small, so that
# the script is tested where there is no GPU (tests/test_gpu_tools.py).
# It runs from the checkout (PYTHONPATH=.) with the machine's own libraries;
# wheels carried in .whl/ (bench/fetch_gpu_wheels.sh) are installed first
# (--device gpu only) into a temporary folder that PYTHONPATH names before the
# machine's own packages.
# Environment: PYTHON (default python3), GPU_CHECK_BUDGET (seconds in all),
# GPU_CHECK_TESTS (the test files and pytest arguments of the test step).
set -u

device=gpu
outdir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --device) device=${2:-}; shift 2 ;;
        --device=*) device=${1#*=}; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) outdir=$1; shift ;;
    esac
done
case "$device" in gpu|cpu) ;; *) echo "expected --device gpu or cpu; received '$device'" >&2; exit 2 ;; esac
outdir=${outdir:-${OUT:-gpu-check-out}}
mkdir -p "$outdir" && outdir=$(cd "$outdir" && pwd) || exit 2
cd "$(dirname "$0")/.." || exit 2   # the checkout's root

PY=${PYTHON:-python3}
work=$(mktemp -d)
log="$outdir/log.txt"
: > "$log"
steps="$work/steps.md"
: > "$steps"
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# torch, CuPy and JAX share the GPU in one process, and the determinism tests
# start child processes on it: JAX must not take 75 % of its memory in each.
export XLA_PYTHON_CLIENT_PREALLOCATE=false

if [ "$device" = gpu ]; then
    budget=${GPU_CHECK_BUDGET:-540}
    test_backends="torch:cuda,cupy,jax:gpu"
    tests=${GPU_CHECK_TESTS:-"tests/test_backends.py tests/test_gradients.py tests/test_autograd.py tests/test_parity.py tests/test_numerics.py tests/test_training.py tests/test_compile.py tests/test_chunks.py tests/test_determinism.py"}
    slow_tests=${GPU_CHECK_SLOW_TESTS:-$tests}
    # Not the sweep, and not JAX's eager tiny training (seconds per epoch
    # batch of dispatches: the probes time it once).
    bench_args=(-m gpu -k "test_bench and step and (tiny or large or bigger) and not sweep and not eager")
    limits=(45 170 90 100 100)   # environment, tests, slow tests, probes, benchmark
else
    budget=${GPU_CHECK_BUDGET:-150}
    test_backends="torch"
    tests=${GPU_CHECK_TESTS:-"tests/test_compile.py -k outputs_survive"}
    slow_tests=${GPU_CHECK_SLOW_TESTS:-"tests/test_parity.py -k float64"}
    bench_args=(-m "not gpu" -k "test_bench and tiny and numpy and ours and not compiled")
    limits=(60 60 40 60 40)
fi
started=$(date +%s)
failed=0
dry_run_note=""
[ "$device" = cpu ] && dry_run_note="(dry run: no GPU)"

# step NAME LIMIT COMMAND...: runs COMMAND under `timeout`, its output appended
# to log.txt, within what is left of the budget; records a row of the summary.
step() {
    local name=$1 limit=$2 left rc begin took status
    shift 2
    left=$(( budget - ($(date +%s) - started) - 5 ))
    [ "$limit" -gt "$left" ] && limit=$left
    if [ "$limit" -lt 5 ]; then
        echo "| $name | not run: the budget of $budget s is spent | | |" >> "$steps"
        failed=1
        return 124
    fi
    printf '\n===== %s (at most %s s): %s\n' "$name" "$limit" "$*" >> "$log"
    echo "[gpu_check] $name (at most $limit s)"
    begin=$(date +%s)
    timeout -k 5 "$limit" "$@" >> "$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - begin ))
    case $rc in
        0) status=ok ;;
        124|137) status="TIMED OUT"; failed=1 ;;
        *) status="FAILED (exit $rc)"; failed=1 ;;
    esac
    echo "| $name | $status | $took s | $limit s |" >> "$steps"
    echo "[gpu_check] $name: $status in $took s"
    return $rc
}

skipped() {
    echo "| $1 | skipped: $2 | | |" >> "$steps"
    echo "[gpu_check] $1: skipped: $2"
}

has() { "$PY" -c "import $1" 2>/dev/null; }

summary() {
    local out="$outdir/summary.md"
    {
        echo "# GPU check ($device), $(date -u +%Y-%m-%dT%H:%MZ)"
        echo
        echo "Machine: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1 || true)${dry_run_note} $(getconf _NPROCESSORS_ONLN) CPU cores; total $(( $(date +%s) - started )) s of a $budget s budget."
        echo
        echo "| step | result | took | limit |"
        echo "| --- | --- | ---: | ---: |"
        cat "$steps"
        echo
        for junit in "$outdir/junit.xml" "$outdir/junit-slow.xml"; do
            [ -f "$junit" ] || continue
            "$PY" - "$junit" <<'EOF'
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
count = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
print(f"Tests ({sys.argv[1].rsplit('/', 1)[-1]}): {count['tests']} run, {count['failures']} failed, "
      f"{count['errors']} errors, {count['skipped']} skipped.")
bad = [f"- {case.get('classname')}::{case.get('name')}" for s in suites for case in s.iter("testcase")
       if case.find("failure") is not None or case.find("error") is not None]
if bad:
    print("\nFailed:\n" + "\n".join(bad[:40]))
EOF
            echo
        done
        [ -f "$work/probes.md" ] && cat "$work/probes.md" && echo
        if [ -f "$work/bench.md" ]; then
            echo "## Benchmark"
            echo
            cat "$work/bench.md"
        fi
    } > "$out"
    cat "$out"
}

# --- 0. carried wheels (for the GPU machine's Python 3.12; the dry run uses this machine's environment) ---
if [ "$device" = gpu ] && compgen -G ".whl/*.whl" > /dev/null; then
    site="$work/site"
    if step wheels 60 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target "$site" .whl/*.whl; then
        export PYTHONPATH="$PYTHONPATH:$site"
    fi
fi

# --- 1. environment; stop if no GPU library loads ---------------------------------
if [ "$device" = gpu ]; then
    wanted="torch:cuda cupy jax:gpu"
else
    wanted="torch numpy"
fi
cat > "$work/versions.py" <<'EOF'
import importlib
import sys

print("python", sys.version.split()[0])
for name in ("numpy", "array_api_compat", "torch", "cupy", "jax", "jaxlib", "pytest", "pytest_benchmark",
             "hypothesis", "pytest_timeout"):
    try:
        module = importlib.import_module(name)
    except Exception as exc:
        print(f"{name}: not importable ({type(exc).__name__}: {exc})")
        continue
    extra = ""
    if name == "torch":
        extra = f", CUDA {module.version.cuda}, available: {module.cuda.is_available()}"
    print(f"{name} {getattr(module, '__version__', '?')}{extra}")
EOF
step environment "${limits[0]}" bash -c 'nvidia-smi || echo "(no nvidia-smi here)"; "$0" "$1" && "$0" -m backprop_xp backends' \
    "$PY" "$work/versions.py"
step "backends load" 60 "$PY" - $wanted <<'EOF'
import sys

from backprop_xp import BackendUnavailableError, get_backend

loaded = []
for name in sys.argv[1:]:
    try:
        loaded.append(get_backend(name).name)
    except BackendUnavailableError as exc:
        print(f"{name}: {exc}")
print("loaded:", ", ".join(loaded) or "none")
sys.exit(0 if loaded else 3)
EOF
if [ $? -ne 0 ]; then
    skipped "tests, probes, benchmark" "no backend of '$wanted' loads (see log.txt)"
    summary
    exit 3
fi

# --- 2. the tests ------------------------------------------------------------------
# Only the plugins named here: the machine's own (pytest-cov, xdist, ...) may
# not suit the carried pytest.
export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
plugins=()
has _hypothesis_pytestplugin && plugins+=(-p _hypothesis_pytestplugin)
has pytest_timeout && plugins+=(-p pytest_timeout --timeout=120)
# shellcheck disable=SC2086  # $tests holds several files and arguments
# The slow tests (2500-epoch curves) apart: a step that runs out of time
# writes no JUnit file, and the quick tests' results must come back.
BACKPROP_XP_TEST_BACKENDS=$test_backends step tests "${limits[1]}" "$PY" -m pytest $tests -m "not slow" -q \
    -p no:cacheprovider -rfE "${plugins[@]}" --junitxml="$outdir/junit.xml"
# shellcheck disable=SC2086
BACKPROP_XP_TEST_BACKENDS=$test_backends step "slow tests" "${limits[2]}" "$PY" -m pytest $slow_tests -m slow -q \
    -p no:cacheprovider -rfE "${plugins[@]}" --junitxml="$outdir/junit-slow.xml"

# --- 3. the probes -----------------------------------------------------------------
step probes "${limits[3]}" "$PY" bench/gpu_probes.py --device "$device" --out "$work"
[ -f "$work/probes.json" ] && cp "$work/probes.json" "$outdir/probes.json"

# --- 4. a short benchmark and its report ---------------------------------------------
if has pytest_benchmark; then
    BACKPROP_XP_BENCH_PASSES=1 BACKPROP_XP_BENCH_SETTLE=0.02 step benchmark "${limits[4]}" \
        "$PY" -m pytest bench "${bench_args[@]}" -q -p no:cacheprovider -p pytest_benchmark.plugin \
        --benchmark-json="$outdir/bench.json" \
        --benchmark-columns=median,iqr,rounds --benchmark-sort=name
    if [ -s "$outdir/bench.json" ]; then
        step report 30 "$PY" bench/report.py "$outdir/bench.json" --markdown "$work/bench.md"
    fi
else
    skipped benchmark "pytest-benchmark is not installed"
fi

summary
rm -rf "$work"
exit $failed
