"""The sheet-block operator (refrnn.backends.pattern_products) against dense algebra
and the plain reference (float64, 1e-12), and when the fast CPU set uses it."""
import numpy as np
import pytest
import scipy.sparse as sp

import refrnn.backends.threads as ct
from refrnn.backends.backend import get_backend, reference_backend
from refrnn.backends.fast_cpu import CpuRecurrent
from refrnn.backends.plain import pattern_coordinates
from refrnn.backends.pattern_products import SheetBlocks, plan, torus_offsets
from refrnn.core.masks import make_mask, torus_shape

TOL = 1e-12

CASES = [("locality", 256, 0.04), ("locality", 1024, 0.04), ("locality", 24, 0.3),
         ("locality", 60, 0.2), ("ring", 256, 0.05), ("ring", 40, 0.2)]


def _close(got, ref, what=""):
    scale = max(1.0, float(np.abs(ref).max()))
    err = float(np.abs(got - ref).max())
    assert err <= TOL * scale, f"{what}: {err:.3g} > {TOL} * {scale:.3g}"


def _dense(mask, w):
    n = mask.shape[0]
    return sp.csr_matrix((w, mask.indices, mask.indptr), shape=(n, n)).toarray()


@pytest.mark.parametrize("kind,n,s", CASES)
def test_blocks_product_is_the_dense_product(kind, n, s):
    mask = make_mask(kind, n, s)
    rows, cols = pattern_coordinates(mask)
    sheet = torus_shape(kind, n)
    rng = np.random.default_rng(0)
    w = rng.standard_normal(mask.nnz)
    W = _dense(mask, w)
    wide = rng.standard_normal((n, 33))
    x = wide[:, 11:22]                       # a column slice: rows contiguous, row stride 33
    for r_, c_, M in ((rows, cols, W), (cols, rows, W.T)):
        bc, ext, density = plan(r_, c_, n, sheet) or (None, None, None)
        if bc is None:  # cost model chose the sparse kernel: force blocks at the smallest width
            dr, dc = torus_offsets(r_, c_, *sheet)
            ext = (-min(dr.min(), 0), max(dr.max(), 0), -min(dc.min(), 0), max(dc.max(), 0))
            bc = sheet[1]
        op = SheetBlocks(r_, c_, n, sheet, np.float64, bc, ext)
        op.load(w)
        out = np.full((n, 11), np.nan)
        op.product(x, out)
        _close(out, M @ x, f"{kind} {n}")
        out2 = np.full((n, 4), np.nan)     # a part of the trials, as a worker runs it
        op.product(x[:, 3:7], out2)
        _close(out2, out[:, 3:7], f"{kind} {n} part")
        assert 0 < op.density <= 1


@pytest.mark.parametrize("kind,n,s", CASES)
@pytest.mark.parametrize("threads", [1, 3])
def test_blocks_sampled_product_is_the_dense_one_at_the_pattern(kind, n, s, threads, monkeypatch):
    """SheetBlocks.sampled: (A Bm^T)[rows, cols], K cut into several chunks
    (the last one shorter) and the sheet rows split between 1 or 3 workers;
    the split does not change a bit."""
    import refrnn.backends.pattern_products as pp
    monkeypatch.setattr(pp, "CHUNK_COLS", (16, 16))
    monkeypatch.setenv("REFRNN_THREADS", str(threads))
    monkeypatch.setattr(ct, "PARALLEL_MIN", 0)
    monkeypatch.setattr(ct, "_HELD", 1)
    mask = make_mask(kind, n, s)
    rows, cols = pattern_coordinates(mask)
    sheet = torus_shape(kind, n)
    bc, ext, _ = plan(rows, cols, n, sheet) or (sheet[1], None, None)
    if ext is None:
        dr, dc = torus_offsets(rows, cols, *sheet)
        ext = (-min(dr.min(), 0), max(dr.max(), 0), -min(dc.min(), 0), max(dc.max(), 0))
    op = SheetBlocks(rows, cols, n, sheet, np.float64, bc, ext)
    rng = np.random.default_rng(2)
    A, Bm = rng.standard_normal((n, 41)), rng.standard_normal((n, 41))
    got = op.sampled(A, Bm, ct.run_parts)
    _close(got, (A @ Bm.T)[rows, cols], f"{kind} {n} sampled")
    np.testing.assert_array_equal(got, op.sampled(A, Bm))  # one part: the same bits
    wide = rng.standard_normal((n, 60))                      # column slices of wider arrays
    _close(op.sampled(wide[:, :41], wide[:, 19:]), (wide[:, :41] @ wide[:, 19:].T)[rows, cols])


def test_scattered_sources_are_priced_as_copies():
    """A random mask's receiver blocks draw on most sources through gathered
    copies: one dense GEMM is cheaper there (N = 256, 4%), while a locality
    mask's blocks stay blocked."""
    from refrnn.backends.pattern_products import PatternProduct
    for kind, blocked in (("random", False), ("locality", True)):
        rows, cols = pattern_coordinates(make_mask(kind, 256, 0.04))
        assert PatternProduct(rows, cols, 256, np).blocked == blocked, kind


@pytest.mark.parametrize("kind,n,s", CASES + [("random", 256, 0.04), ("full", 64, 1.0)])
def test_cpu_operator_with_sheet_matches_reference(kind, n, s, monkeypatch):
    """Wx, WTx, add_WTx, sampled of the fast CPU operator (given the sheet, as
    RNN gives it) against the plain reference operator, the sampled product split in three."""
    monkeypatch.setenv("REFRNN_THREADS", "3")
    monkeypatch.setattr(ct, "PARALLEL_MIN", 0)
    monkeypatch.setattr(ct, "_HELD", 1)
    mask = make_mask(kind, n, s)
    sheet = torus_shape(kind, n)
    fast = get_backend("cpu").prims.recurrent(mask, np.float64, sheet=sheet)
    ref = reference_backend().prims.recurrent(mask, np.float64, sheet=sheet)
    want = {"locality": "blocks", "ring": "blocks", "random": "csr", "full": "dense"}[kind]
    if n >= 256 or kind in ("random", "full"):
        assert fast.layout == want
    rng = np.random.default_rng(1)
    w = rng.standard_normal(mask.nnz)
    fast.load(w)
    ref.load(w)
    x = rng.standard_normal((n, 30))[:, 5:14]
    base = rng.standard_normal((n, 9))
    for name in ("Wx", "WTx", "add_WTx"):
        got, exp = base.copy(), base.copy()
        getattr(fast, name)(x, got)
        getattr(ref, name)(x, exp)
        _close(got, exp, f"{kind} {name}")
    A, Bm = rng.standard_normal((n, 40)), rng.standard_normal((n, 40))
    _close(fast.sampled(A, Bm), ref.sampled(A, Bm), f"{kind} sampled")


def test_scattered_pattern_is_refused_and_sheet_must_fit():
    mask = make_mask("random", 1024, 0.04, 3)
    rows, cols = pattern_coordinates(mask)
    assert plan(rows, cols, 1024, (32, 32)) is None      # random: the sparse kernel
    assert plan(rows, cols, 1024, None) is None          # no sheet: the sparse kernel
    with pytest.raises(ValueError, match="sheet"):
        plan(rows, cols, 1024, (30, 30))
    assert CpuRecurrent(mask, np.float32, (32, 32)).layout == "csr"


def test_locality_blocks_are_dense_enough():
    """The measured structure the layout rests on: at 4% the blocks are
    40-50% pattern entries (the CSR kernel runs at ~1/10 of GEMM speed)."""
    for n in (1024, 4096):
        mask = make_mask("locality", n, 0.04)
        rows, cols = pattern_coordinates(mask)
        bc, ext, density = plan(rows, cols, n, torus_shape("locality", n))
        assert density > 0.35, (n, bc, density)


def test_sampled_product_runs_on_the_blocks_where_they_sample_well():
    """Locality masks of small windows sample on W_rec's own blocks; a ring
    (one sheet row: PatternProduct wastes nothing) and wide windows (N = 4096,
    where thin GEMMs slow down) keep PatternProduct."""
    for kind, n, on_blocks in (("locality", 256, True), ("locality", 1024, True),
                               ("ring", 1024, False), ("locality", 4096, False)):
        op = CpuRecurrent(make_mask(kind, n, 0.04), np.float32, torus_shape(kind, n))
        assert op.layout == "blocks"
        assert (op.sampler is None) == on_blocks, (kind, n)
