"""One training step on a CUDA GPU: refrnn on CuPy against PyTorch CUDA.

A step is: forward over T steps with recurrent noise, cross-entropy at every
step, backward, Adam. refrnn runs its hand-written BPTT on CuPy with the
recurrent weights in a cupyx CSR matrix; PyTorch runs the same equation with a
dense masked W_rec * M, autograd and torch.optim.Adam, on the same GPU in the
same process. Both float32 (PyTorch's TF32 setting is reported, not changed).
Each side is timed with a device synchronize before and after every step;
the table gives medians and the ratio torch / refrnn (above 1: refrnn faster).

It also times the sparse recurrent product alone, CSR (N, N) @ (N, B), and
reports the memory bandwidth it reaches, counting the least traffic one call
needs (values and column indices, row pointers, the dense input read and the
output written once):

    bytes = nnz * (4 + 4) + (N + 1) * 4 + N * B * 4 * 2

against the device's theoretical bandwidth (2 * memory clock * bus width,
from the CUDA device attributes, else NVML, else a table of known cards; the
source is printed) and against a measured device-to-device copy.

    python benchmarks/gpu_step.py [--sizes 1024,4096,16384] [--reps 5]
        [--big-reps 3] [--json PATH] [--no-torch] [--smoke]

Without CuPy or a CUDA GPU it exits with status 2 and says so. ``--smoke``
runs the same code on the CPU (NumPy + SciPy, torch CPU) at whatever sizes
are given, only to check the script itself; its numbers are not GPU numbers.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for p in (HERE, ROOT):
    if p not in sys.path:
        sys.path.insert(0, p)

import numpy as np  # noqa: E402

import common  # noqa: E402
from gpu_util import (copy_bandwidth, rng_create_ms, theoretical_bandwidth,  # noqa: E402
                      time_steps, torch_setup)

N_OBS, N_TASKS, N_OUT = 33, 126, 17  # 159 inputs, 17 outputs
BIG_N = 8192  # sizes from here up use --big-reps
def fail(msg: str) -> None:
    print(f"gpu_step: error: {msg}", file=sys.stderr)
    sys.exit(2)


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        fail(f"--sizes must be comma-separated integers, got {text!r}")
    if not sizes or min(sizes) < 4:
        fail(f"--sizes must list sizes >= 4, got {text!r}")
    return sizes


def refrnn_setup(be, n: int, args, x, labels, weights):
    """The refrnn model, optimiser and step closure on backend ``be``."""
    from refrnn.core import losses, optim
    from refrnn.core.model import RNN, ModelConfig

    cfg = ModelConfig(n_in=N_OBS + N_TASKS, n_out=N_OUT, hidden=n, mask="locality",
                      sparsity=args.sparsity, dtype="float32")
    model = RNN(cfg, backend=be, seed=0)
    opt = optim.Adam(model.params, lr=1e-3, xp=be.xp)
    rng = be.rng(2)
    xd, ld, wd = be.asarray(x), be.asarray(labels), be.asarray(weights)

    def step():
        y, cache = model.forward(xd, rng=rng)
        _, dy = losses.cross_entropy(y, ld, wd, xp=be.xp)
        grads = model.backward(cache, dy)
        opt.step(model.params, grads)

    def clean_loss():
        y, _ = model.forward(xd)
        return float(losses.cross_entropy(y, ld, wd, xp=be.xp)[0])

    return model, step, clean_loss


def spmm_bandwidth(be, model, B: int, sync, budget_s: float) -> dict:
    """Time CSR (N, N) @ (N, B) alone; bytes moved and bandwidth reached."""
    m = model.mask
    n, nnz = m.shape[0], m.nnz
    w = be.asarray(model.params["w_rec"], dtype=np.float32)
    if be.is_gpu:
        import cupyx.scipy.sparse as sparse
    else:
        import scipy.sparse as sparse
    A = sparse.csr_matrix((w, be.asarray(m.indices.astype(np.int32)),
                          be.asarray(m.indptr.astype(np.int32))), shape=(n, n))
    # Column-major, as cuSPARSE's SpMM wants it, so no copy is timed with it.
    H = be.xp.asfortranarray(be.rng(3).standard_normal((n, B), dtype=np.float32))
    reps = 200 if be.is_gpu else 20
    times = time_steps(lambda: A @ H, sync, reps=reps, warmup=3, budget_s=budget_s)
    t = statistics.median(times)
    nbytes = nnz * (4 + 4) + (n + 1) * 4 + n * B * 4 * 2
    return {"nnz": int(nnz), "spmm_median_us": 1e6 * t, "spmm_bytes": int(nbytes),
            "spmm_GBps": nbytes / t / 1e9, "spmm_GFLOPs": 2.0 * nnz * B / t / 1e9}


def _attempt(row: dict, what: str, fn):
    """Run fn(); on an exception print its traceback, note it in row, return None.

    The GPU run is one-shot: one failing part must not lose the others' numbers.
    """
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc()
        row.setdefault("errors", []).append(f"{what}: {type(exc).__name__}: {exc}")
        return None


def run_size(n, args, be, torch, tdev, x, labels, weights, sync, tsync, peak_bw, copy_bw):
    """Time both sides and the SpMM at size ``n``; one result row (dict)."""
    reps = args.big_reps if n >= BIG_N else args.reps
    row = {"N": n}
    built = _attempt(row, "refrnn setup", lambda: refrnn_setup(be, n, args, x, labels, weights))
    if built is None:
        return row
    model, step, clean_loss = built
    rs = _attempt(row, "refrnn step",
                  lambda: common.summarize(time_steps(step, sync, reps, args.warmup,
                                                      args.budget_s)))
    row.update({"refrnn_" + k: v for k, v in (rs or {}).items()})
    if be.is_gpu:
        row["refrnn_pool_GiB"] = be.xp.get_default_memory_pool().total_bytes() / 2**30
    sp = _attempt(row, "spmm", lambda: spmm_bandwidth(be, model, x.shape[1], sync,
                                                       min(args.budget_s, 5.0)))
    if sp:
        row.update(sp)
        known = not math.isnan(peak_bw)
        row["spmm_frac_theoretical"] = sp["spmm_GBps"] * 1e9 / peak_bw if known else None
        row["spmm_frac_copy"] = sp["spmm_GBps"] * 1e9 / copy_bw
    if torch is None:
        return row
    # Same weights, no noise: both sides must give the same loss (same equation).
    loss_refrnn = _attempt(row, "refrnn loss", clean_loss)
    twin = _attempt(row, "torch setup",
                    lambda: torch_setup(torch, tdev, be, model, x, labels, weights))
    del model, step, clean_loss
    if be.is_gpu:
        be.xp.get_default_memory_pool().free_all_blocks()
        torch.cuda.reset_peak_memory_stats()
    if twin is None:
        return row
    tstep, loss_torch = twin
    if loss_refrnn is not None:
        row["loss_rel_diff"] = abs(loss_torch - loss_refrnn) / abs(loss_refrnn)
        if row["loss_rel_diff"] > 1e-3:
            print(f"warning: N={n}: refrnn loss {loss_refrnn:.6g} != torch loss "
                  f"{loss_torch:.6g}: the two models differ", file=sys.stderr)
    ts = _attempt(row, "torch step",
                  lambda: common.summarize(time_steps(tstep, tsync, reps, args.warmup,
                                                      args.budget_s)))
    row.update({"torch_" + k: v for k, v in (ts or {}).items()})
    if be.is_gpu:
        row["torch_peak_GiB"] = torch.cuda.max_memory_allocated() / 2**30
        torch.cuda.empty_cache()
    if rs and ts:
        row["ratio_torch_over_refrnn"] = ts["median_ms"] / rs["median_ms"]
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1024,4096,16384")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq-len", type=int, default=350)
    ap.add_argument("--sparsity", type=float, default=0.04)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--big-reps", type=int, default=3, help=f"reps for N >= {BIG_N}")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--budget-s", type=float, default=20.0,
                    help="cap on timed seconds per side and size (fewer reps)")
    ap.add_argument("--json", default=None, help="write the results as JSON here")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="run on the CPU (script check only)")
    args = ap.parse_args(argv)
    sizes = parse_sizes(args.sizes)
    if args.batch < 1 or args.seq_len < 1 or args.reps < 1 or args.big_reps < 1:
        fail("--batch, --seq-len, --reps and --big-reps must be >= 1")

    from refrnn.backends.backend import get_backend
    if args.smoke:
        be = get_backend("cpu")
        gpu_name, peak_bw, bw_src = "none (CPU smoke run)", float("nan"), "n/a"
    else:
        try:
            be = get_backend("cuda")
        except RuntimeError as exc:
            fail(f"this benchmark needs CuPy and a CUDA GPU: {exc}")
        cp = be.xp
        props = cp.cuda.runtime.getDeviceProperties(0)
        gpu_name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        peak_bw, bw_src = theoretical_bandwidth(cp, gpu_name)
    sync = be.synchronize

    torch, tdev, tsync, torch_note = None, None, None, "skipped (--no-torch)"
    if not args.no_torch:
        try:
            import torch
            if args.smoke:
                tdev, tsync, torch_note = "cpu", (lambda: None), f"torch {torch.__version__} CPU"
            elif torch.cuda.is_available():
                tdev, tsync = "cuda", torch.cuda.synchronize
                torch_note = (f"torch {torch.__version__}, TF32 matmul "
                              f"{'on' if torch.backends.cuda.matmul.allow_tf32 else 'off'}")
            else:
                torch, torch_note = None, "torch has no CUDA here: refrnn alone"
        except ImportError:
            torch, torch_note = None, "torch not installed here: refrnn alone"

    copy_bw = copy_bandwidth(be.xp, sync, nbytes=(1 << 30) if be.is_gpu else (1 << 24))
    rng_ms = rng_create_ms(be.rng, sync)
    # What Backend.rng would cost with cupy's default_rng (XORWOW) instead.
    xorwow_ms = rng_create_ms(be.xp.random.default_rng, sync) if be.is_gpu else math.nan
    x, labels, weights = common.make_batch(args.seq_len, args.batch, N_OBS, N_TASKS, N_OUT, seed=1)
    info = {"gpu": gpu_name, "backend": be.name,
            "theoretical_bw_GBps": None if math.isnan(peak_bw) else peak_bw / 1e9,
            "bw_source": bw_src, "copy_bw_GBps": copy_bw / 1e9, "torch": torch_note,
            "rng_create_ms": rng_ms, "default_rng_create_ms": None if math.isnan(xorwow_ms) else xorwow_ms,
            "T": args.seq_len, "B": args.batch, "n_in": N_OBS + N_TASKS, "n_out": N_OUT,
            "sparsity": args.sparsity, "smoke": args.smoke}
    if be.is_gpu:
        info["cupy"] = be.xp.__version__
    print(f"GPU: {gpu_name} | theoretical bandwidth {peak_bw / 1e9:.0f} GB/s ({bw_src}) | "
          f"measured copy {copy_bw / 1e9:.0f} GB/s | new seeded Backend.rng {rng_ms:.3f} ms "
          f"(cupy default_rng {'n/a' if math.isnan(xorwow_ms) else f'{xorwow_ms:.3f} ms'}) | "
          f"{torch_note}", flush=True)
    print_header()
    rows = []
    for n in sizes:
        rows.append(run_size(n, args, be, torch, tdev, x, labels, weights, sync, tsync,
                             peak_bw, copy_bw))
        print_row(rows[-1])
        if args.json:  # after every size, so a timeout keeps what was measured
            common.write_json_atomic(args.json, {"info": info, "rows": rows})
    return 1 if any("errors" in r for r in rows) else 0


def print_header() -> None:
    print(f"{'N':>6} {'nnz':>10} {'refrnn ms':>10} {'torch ms':>10} {'torch/refrnn':>12} "
          f"{'SpMM us':>9} {'SpMM GB/s':>9} {'of peak':>7} {'of copy':>7} {'loss diff':>9}")


def print_row(r: dict) -> None:
    def fmt(key, spec, scale=1, suffix=""):
        v = r.get(key)
        return "-" if v is None else f"{scale * v:{spec}}{suffix}"

    print(f"{r['N']:>6} {fmt('nnz', 'd'):>10} {fmt('refrnn_median_ms', '.1f'):>10} "
          f"{fmt('torch_median_ms', '.1f'):>10} {fmt('ratio_torch_over_refrnn', '.2f'):>12} "
          f"{fmt('spmm_median_us', '.1f'):>9} {fmt('spmm_GBps', '.1f'):>9} "
          f"{fmt('spmm_frac_theoretical', '.1f', 100, '%'):>7} "
          f"{fmt('spmm_frac_copy', '.1f', 100, '%'):>7} {fmt('loss_rel_diff', '.1e'):>9}",
          flush=True)
    for e in r.get("errors", []):
        print(f"       error: {e}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
