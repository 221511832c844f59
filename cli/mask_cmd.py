"""`refrnn mask`: build a connectivity pattern, print its statistics, optionally plot it."""
from __future__ import annotations

import os

import click

from refrnn.files.atomic import atomic_output
from refrnn.core.masks import (MASK_KINDS, SPATIAL_KINDS, in_degree, make_mask, mask_stats,
                          sheet_shape)
from refrnn.core.model import DEFAULT_INIT_RADIUS, initial_radius


def _save_plot(mask, kind: str, path: str) -> None:
    """Picture of the pattern (left) and of neuron 0's sources on its sheet (right)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise click.UsageError(
            "--plot needs matplotlib; install it with: pip install 'refrnn[plot]'") from None
    import numpy as np

    n = mask.shape[0]
    r, c = sheet_shape(n) if kind == "locality" else (1, n)
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(9, 4.5))
    a0.spy(mask, markersize=max(0.1, 200.0 / n))
    a0.set_title(f"{kind} mask, n={n}, nnz={mask.nnz}")
    a0.set_xlabel("source neuron")
    a0.set_ylabel("receiving neuron")
    centre = (r // 2) * c + c // 2
    sheet = np.zeros(n)
    sheet[mask.indices[mask.indptr[centre]:mask.indptr[centre + 1]]] = 1.0
    sheet[centre] = 2.0
    a1.imshow(sheet.reshape(r, c), cmap="Greys", interpolation="nearest")
    a1.set_title(f"sources of neuron {centre} on the {r} x {c} sheet")
    fig.tight_layout()
    fmt = os.path.splitext(path)[1][1:].lower() or "png"
    known = fig.canvas.get_supported_filetypes()
    if fmt not in known:
        plt.close(fig)
        raise click.BadParameter(f"{path!r}: matplotlib cannot write .{fmt} files; use one of "
                                 f"{', '.join('.' + k for k in sorted(known))}",
                                 param_hint="'--plot'")
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, format=fmt)
    finally:
        plt.close(fig)


@click.command("mask")
@click.option("--mask", "kind", type=click.Choice(MASK_KINDS), default="locality",
              show_default=True, help="connectivity pattern")
@click.option("--hidden", type=int, default=256, show_default=True, help="number of neurons N")
@click.option("--sparsity", type=float, default=0.04, show_default=True,
              help="fraction of the N*N connections that exist, in (0, 1]")
@click.option("--seed", type=int, default=0, show_default=True, help="seed (random mask only)")
@click.option("--init-radius", type=float, default=DEFAULT_INIT_RADIUS, show_default=True,
              help="spectral radius the initial W_rec is scaled to (0 = unscaled 1/k draw)")
@click.option("--weight-seed", type=int, default=0, show_default=True,
              help="seed of the initial weights whose spectral radius is printed")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="save a picture of the mask to this file (needs matplotlib)")
def mask(kind, hidden, sparsity, seed, init_radius, weight_seed, plot_path):
    """Build a recurrent mask and print in-degree, density, neighbourhood radius
    and the spectral radius of an initial W_rec on it."""
    if not (init_radius >= 0 and init_radius < float("inf")):
        raise click.BadParameter(f"must be >= 0 (0 = unscaled), got {init_radius}",
                                 param_hint="--init-radius")
    if hidden < 1:
        raise click.BadParameter(f"must be a positive integer, got {hidden}", param_hint="--hidden")
    if kind not in ("full", "autapse"):
        try:
            in_degree(hidden, sparsity)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--sparsity") from None
    m = make_mask(kind, hidden, sparsity, seed)
    st = mask_stats(m, kind)
    if kind in SPATIAL_KINDS:
        r, c = sheet_shape(hidden) if kind == "locality" else (1, hidden)
        click.echo(f"sheet: {r} x {c} (periodic)")
    deg = (st["in_degree_min"] if st["in_degree_min"] == st["in_degree_max"]
           else f"{st['in_degree_min']}..{st['in_degree_max']}")
    click.echo(f"mask: {kind}  n: {st['n']}  nnz: {st['nnz']}")
    click.echo(f"in-degree: {deg}")
    click.echo(f"density: {st['density']:.6f}")
    if "radius" in st:
        click.echo(f"radius: {st['radius']:.4f}")
    unscaled = initial_radius(kind, hidden, sparsity, seed, 0.0, weight_seed)
    if init_radius > 0:
        rho = initial_radius(kind, hidden, sparsity, seed, init_radius, weight_seed)
        click.echo(f"initial W_rec spectral radius: {rho:.4f} (init_radius {init_radius:g}; "
                   f"unscaled N(0, 1/k) draw: {unscaled:.4f}; weight seed {weight_seed})")
    else:
        click.echo(f"initial W_rec spectral radius: {unscaled:.4f} (unscaled N(0, 1/k) "
                   f"draw; weight seed {weight_seed})")
    if plot_path:
        _save_plot(m, kind, plot_path)
        click.echo(f"saved {plot_path}")
