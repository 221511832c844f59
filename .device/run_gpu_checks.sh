#!/usr/bin/env bash
# The prepared GPU check (issue 16), run once on a lent CUDA machine:
#
#     bash .device/run_gpu_checks.sh            (from the repository root)
#
# It needs python3 with numpy, scipy, h5py, click, pytest and CuPy (torch is
# optional: without it the benchmark runs refrnn alone and says so); it
# installs nothing and needs no network: refrnn runs from the checkout via
# PYTHONPATH. Everything goes to $OUT (default /tmp/refrnn-gpu-out):
#     results.txt   nvidia-smi, versions, the pytest runs, the benchmark table
#     bench.json    the benchmark's numbers (benchmarks/gpu_step.py --json)
# Every section has its own timeout; the whole script stays under ~7 minutes.
# Exit status: 0 when every section passed, else 1 (the log says which failed).
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/refrnn-gpu-out}"
mkdir -p "$OUT"
LOG="$OUT/results.txt"
: > "$LOG"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
failed=()

section() {  # section NAME TIMEOUT_S CMD...: run, log, remember failures
    local name="$1" limit="$2"; shift 2
    echo "===== $name ($(date -u +%H:%M:%S), limit ${limit}s): $*" | tee -a "$LOG"
    local t0=$SECONDS
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$LOG"
    local rc=${PIPESTATUS[0]}
    echo "===== $name: exit $rc after $((SECONDS - t0)) s" | tee -a "$LOG"
    [ "$rc" -eq 0 ] || failed+=("$name (exit $rc)")
}

section nvidia-smi 30 nvidia-smi
section versions 60 "$PY" -c '
import sys, numpy, scipy, cupy
print("python", sys.version.split()[0], "| numpy", numpy.__version__, "| scipy", scipy.__version__)
print("cupy", cupy.__version__, "| CUDA runtime", cupy.cuda.runtime.runtimeGetVersion(),
      "| devices", cupy.cuda.runtime.getDeviceCount())
try:
    import torch
    print("torch", torch.__version__, "| cuda available", torch.cuda.is_available())
except ImportError:
    print("torch: not installed")
from refrnn.backends.backend import available_devices
print("refrnn sees", available_devices())
assert "cuda" in available_devices(), "refrnn does not see the GPU"
'
# The CPU-vs-GPU parity tests and the backend tests (CUDA cases must run, not skip).
section parity-tests 240 "$PY" -m pytest -q -rs -p no:cacheprovider \
    tests/test_backend_parity.py tests/test_backend.py
# Any other test parametrised over the backend fixture, CUDA cases only.
# (pytest's exit 5, "no tests collected", is not a failure here.)
section other-cuda-tests 150 bash -c '"$0" -m pytest -q -rs -p no:cacheprovider tests -k cuda \
    --ignore tests/test_backend_parity.py --ignore tests/test_backend.py; rc=$?
    if [ $rc -eq 5 ]; then echo "(no other CUDA-parametrised tests)"; exit 0; fi; exit $rc' "$PY"
# The benchmark: N = 1024, 4096, 16384 (16384 capped at 3 timed steps a side).
section benchmark 300 "$PY" benchmarks/gpu_step.py --sizes 1024,4096,16384 \
    --reps 5 --big-reps 3 --budget-s 20 --json "$OUT/bench.json"

if [ ${#failed[@]} -eq 0 ]; then
    echo "ALL SECTIONS PASSED" | tee -a "$LOG"
    exit 0
fi
printf 'FAILED: %s\n' "${failed[@]}" | tee -a "$LOG"
exit 1
