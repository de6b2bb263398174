#!/usr/bin/env bash
# Download the pure-Python wheels that bench/gpu_check.sh needs on a GPU
# machine that reaches no package index, into .whl/ (ignored by git), for
# that machine's Python 3.12. The GPU libraries (torch, CuPy, JAX) and NumPy
# are already there; these are not, or not at this project's versions:
# array-api-compat and the test tools, pinned as in backends/base.txt and
# backends/bench.txt, and the test tools' own dependencies, pinned here.
#
# Usage:  bench/fetch_gpu_wheels.sh        (then carry ".whl" with the check)
set -euo pipefail
cd "$(dirname "$0")/.."

pin() {  # the exact pin of a package in backends/*.txt
    grep -h -i -E "^$1==" backends/base.txt backends/bench.txt | head -1
}

wanted=(
    "$(pin array-api-compat)" "$(pin pytest)" "$(pin hypothesis)" "$(pin pytest-timeout)" "$(pin pytest-benchmark)"
    # what those need (pip download --no-deps fetches none of it), at the
    # versions the project's own environments resolve them to
    pluggy==1.7.0 iniconfig==2.3.1 packaging==26.4 pygments==2.21.0 sortedcontainers==2.4.0 py-cpuinfo2==10.1.1
)
for w in "${wanted[@]}"; do
    [[ $w == *==* ]] || { echo "no pin found for a wheel: '$w' (backends/*.txt)" >&2; exit 1; }
done

rm -rf .whl
mkdir -p .whl
"${PYTHON:-python3}" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${wanted[@]}"
ls -1 .whl
du -sh .whl
