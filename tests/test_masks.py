"""Connectivity masks: degree, density, determinism, locality, errors, CLI."""
import math
import re

import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

from refrnn.core.masks import (MASK_KINDS, in_degree, make_mask, mask_stats,
                          neighbourhood_radius, sheet_shape, torus_distance)


def _rows(m):
    return np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))


@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize("n,s", [(256, 0.04), (24, 0.2), (13, 0.3), (100, 0.1)])
def test_exact_degree_density_and_format(kind, n, s):
    m = make_mask(kind, n, s, seed=3)
    assert isinstance(m, sp.csr_matrix) and m.shape == (n, n)
    k = {"full": n, "autapse": 1}.get(kind, int(math.floor(s * n + 0.5)))
    assert np.all(np.diff(m.indptr) == k)
    assert m.nnz == n * k
    assert mask_stats(m)["density"] == pytest.approx(k / n)
    assert m.dtype == np.float64 and np.all(m.data == 1.0)
    for i in range(n):  # sorted, no duplicates
        row = m.indices[m.indptr[i]:m.indptr[i + 1]]
        assert np.all(np.diff(row) > 0)


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_deterministic(kind):
    a, b = make_mask(kind, 144, 0.05, seed=7), make_mask(kind, 144, 0.05, seed=7)
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)


def test_random_shares_degree_not_pattern():
    a = make_mask("random", 256, 0.04, seed=0)
    b = make_mask("random", 256, 0.04, seed=1)
    loc = make_mask("locality", 256, 0.04)
    assert np.array_equal(np.diff(a.indptr), np.diff(loc.indptr))
    assert np.array_equal(np.diff(a.indptr), np.diff(b.indptr))
    assert not np.array_equal(a.indices, b.indices)
    assert not np.array_equal(a.indices, loc.indices)


@pytest.mark.parametrize("kind,n,s", [("locality", 256, 0.04), ("locality", 64, 0.1),
                                      ("locality", 24, 0.3), ("ring", 50, 0.1),
                                      ("ring", 64, 0.25)])
def test_sources_are_the_nearest_on_the_torus(kind, n, s):
    m = make_mask(kind, n, s)
    rad = neighbourhood_radius(kind, n, s)
    rows, cols = _rows(m), m.indices
    d = torus_distance(kind, n, rows, cols)
    assert d.max() <= rad + 1e-12
    assert mask_stats(m, kind)["radius"] == pytest.approx(rad)
    # every source strictly closer than the radius is present, and each neuron
    # receives from itself
    dense = m.toarray() > 0
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    dall = torus_distance(kind, n, ii.ravel(), jj.ravel()).reshape(n, n)
    assert np.all(dense[dall < rad - 1e-12])
    assert np.all(np.diag(dense))


def test_tie_break_rule_by_hand():
    # 3 x 3 sheet, k = 3: itself, then of the four neighbours at distance 1
    # those with the smallest flat offsets (0, 1) and (0, 2) = right and left.
    m = make_mask("locality", 9, 3 / 9)
    assert list(m.indices[0:3]) == [0, 1, 2]
    assert list(m.indices[m.indptr[4]:m.indptr[5]]) == [3, 4, 5]
    assert list(m.indices[m.indptr[8]:m.indptr[9]]) == [6, 7, 8]
    # ring, n = 10, k = 4: itself, +1, -1 (offset 9), then +2
    r = make_mask("ring", 10, 0.4)
    assert list(r.indices[0:4]) == [0, 1, 2, 9]
    assert list(r.indices[r.indptr[5]:r.indptr[6]]) == [4, 5, 6, 7]


def test_sheet_shape_for_non_squares():
    assert sheet_shape(256) == (16, 16)
    assert sheet_shape(24) == (4, 6)
    assert sheet_shape(13) == (1, 13)
    p, r = make_mask("locality", 13, 0.3), make_mask("ring", 13, 0.3)
    assert np.array_equal(p.indices, r.indices)  # prime n: a 1 x n sheet is a ring


def test_translation_invariant_locality():
    n, m = 64, make_mask("locality", 64, 0.1)
    r, c = sheet_shape(n)
    row0 = set(m.indices[:m.indptr[1]])
    i = 3 * c + 5  # neuron at (3, 5): its sources are row 0's shifted by (3, 5)
    shifted = {((j // c + 3) % r) * c + (j % c + 5) % c for j in row0}
    assert set(m.indices[m.indptr[i]:m.indptr[i + 1]]) == shifted


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, float("nan"), "abc", None])
def test_bad_sparsity(bad):
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        make_mask("locality", 256, bad)


def test_k_below_one_and_other_errors():
    with pytest.raises(ValueError, match="k=0"):
        in_degree(10, 0.01)
    with pytest.raises(ValueError, match="'grid'"):
        make_mask("grid", 16, 0.5)
    with pytest.raises(ValueError, match="0"):
        make_mask("ring", 0, 0.5)
    with pytest.raises(ValueError, match="'random'"):
        neighbourhood_radius("random", 16, 0.5)


def test_full_and_autapse_ignore_sparsity():
    assert make_mask("full", 9, 0.04).nnz == 81
    assert np.array_equal(make_mask("autapse", 9, 0.04).indices, np.arange(9))


def test_cli_mask(tmp_path):
    from refrnn_cli.mask_cmd import mask

    r = CliRunner().invoke(mask, ["--mask", "locality", "--hidden", "256", "--sparsity", "0.04"])
    assert r.exit_code == 0, r.output
    assert "in-degree: 10" in r.output and "density: 0.039062" in r.output
    assert "radius: 2.0000" in r.output
    for args in (["--sparsity", "1.5"], ["--sparsity", "nan"], ["--hidden", "0"],
                 ["--hidden", "10", "--sparsity", "0.01"]):
        r = CliRunner().invoke(mask, args)
        assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    pytest.importorskip("matplotlib")
    out = tmp_path / "m.png"
    r = CliRunner().invoke(mask, ["--hidden", "64", "--sparsity", "0.1", "--plot", str(out)])
    assert r.exit_code == 0, r.output
    assert out.stat().st_size > 1000
    # and the manifest recording it as refrnn's (refrnn/files/ownership.py)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".refrnn-written", "m.png"]


@pytest.mark.parametrize("kind, square", [("random", True), ("full", True),
                                          ("locality", False), ("ring", False)])
def test_cli_mask_plot_shape(tmp_path, kind, square):
    """A mask without places (random, full) is drawn as its square adjacency
    picture, not as a squashed 1 x N sheet; a spatial one gets its sheet or
    ring beside the adjacency picture."""
    import struct
    from refrnn_cli.mask_cmd import mask

    pytest.importorskip("matplotlib")
    out = tmp_path / f"{kind}.png"
    r = CliRunner().invoke(mask, ["--mask", kind, "--hidden", "100", "--sparsity", "0.1",
                                  "--plot", str(out)])
    assert r.exit_code == 0, r.output
    w, h = struct.unpack(">II", out.read_bytes()[16:24])
    assert (abs(w - h) <= 0.05 * h) if square else w > 1.5 * h


@pytest.mark.parametrize("kind", ["random", "full", "autapse"])
def test_torus_distance_of_a_kind_without_a_torus_is_a_clear_error(kind):
    with pytest.raises(ValueError, match="no torus"):
        torus_distance(kind, 16, np.arange(3), np.arange(3))
