"""`refrnn mask`: build a connectivity pattern, print its statistics, optionally plot it."""
from __future__ import annotations

import os

import click
import numpy as np

from refrnn.backends.memory import TooLarge
from refrnn.backends.plain import DENSE_DENSITY
from refrnn.core.masks import (SPATIAL_KINDS, check_mask_fits, make_mask, mask_nnz, mask_stats,
                               sheet_shape)
from refrnn.core.model import initial_radius
from refrnn.files.figures import check_figures, pyplot, save_figure

from .options import setting_options, settings_from

# bytes per connection of the initial W_rec that `mask` builds after the mask (twice,
# one after the other): the float64 weights, their receiver and source indices, the
# draw, the operator's copy and the CSR the spectral radius is computed on
WEIGHT_BYTES_PER_ENTRY = 64


def _save_plot(mask, kind: str, path: str, force: bool) -> None:
    """The pattern as an N x N adjacency picture (receiver by source); beside it,
    for a spatial mask, neuron c's sources where they sit: on the sheet
    (locality) or on the ring (ring). A random, full or autapse mask has no
    places to show: its picture is the adjacency alone, square."""
    try:
        plt = pyplot()
    except ImportError as e:
        raise click.UsageError(f"--plot {e}") from None
    n = mask.shape[0]
    spatial = kind in SPATIAL_KINDS
    fig = plt.figure(figsize=(9, 4.5) if spatial else (5, 5))
    a0 = fig.add_subplot(1, 2 if spatial else 1, 1)
    a0.spy(mask, markersize=max(0.1, 200.0 / n))
    a0.set_title(f"{kind} mask, n={n}, nnz={mask.nnz}")
    a0.set_xlabel("source neuron")
    a0.set_ylabel("receiving neuron")
    if kind == "locality":
        r, c = sheet_shape(n)
        centre = (r // 2) * c + c // 2
        sheet = np.zeros(n)
        sheet[mask.indices[mask.indptr[centre]:mask.indptr[centre + 1]]] = 1.0
        sheet[centre] = 2.0
        a1 = fig.add_subplot(1, 2, 2)
        a1.imshow(sheet.reshape(r, c), cmap="Greys", interpolation="nearest")
        a1.set_title(f"sources of neuron {centre} on the {r} x {c} sheet")
    elif kind == "ring":
        centre = n // 2
        angle = 2 * np.pi * np.arange(n) / n
        src = mask.indices[mask.indptr[centre]:mask.indptr[centre + 1]]
        a1 = fig.add_subplot(1, 2, 2, aspect="equal")
        a1.scatter(np.cos(angle), np.sin(angle), s=4, c="lightgrey")
        a1.scatter(np.cos(angle[src]), np.sin(angle[src]), s=12, c="black")
        a1.scatter([np.cos(angle[centre])], [np.sin(angle[centre])], s=40, c="red")
        a1.set_axis_off()
        a1.set_title(f"sources of neuron {centre} (red) on the ring of {n}")
    fig.tight_layout()
    fmt = os.path.splitext(path)[1][1:].lower() or "png"
    known = fig.canvas.get_supported_filetypes()
    if fmt not in known:
        plt.close(fig)
        raise click.BadParameter(f"{path!r}: matplotlib cannot write .{fmt} files; use one of "
                                 f"{', '.join('.' + k for k in sorted(known))}",
                                 param_hint="'--plot'")
    save_figure(fig, path, force, format=fmt)  # refuses a file refrnn did not write


@click.command("mask")
@setting_options("mask", "hidden", "sparsity", "mask_seed", "init_radius")
@click.option("--weight-seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="seed of the initial weights whose spectral radius is printed "
                   "(train's --seed, but of a one-input network: other values)")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="save a picture of the mask to this file (needs matplotlib)")
@click.option("--force", is_flag=True,
              help="With --plot: replace a file refrnn did not write; without it, it "
                   "is refused.")
def mask(weight_seed, plot_path, force, **options):
    """Build a recurrent mask and print in-degree, density, neighbourhood radius
    and the spectral radius of an initial W_rec on it. The settings and their
    defaults are `refrnn train`'s."""
    cfg = settings_from(options)
    kind, hidden, sparsity, seed = cfg.mask, cfg.hidden, cfg.sparsity, cfg.mask_seed
    init_radius = cfg.init_radius
    if plot_path:  # before any work: a file there that refrnn did not write is refused
        check_figures([plot_path], force)
    nnz = mask_nnz(kind, hidden, sparsity)
    dense = nnz > DENSE_DENSITY * hidden * hidden  # the operator keeps a dense copy too
    try:  # one line, not a MemoryError traceback, before anything is allocated
        check_mask_fits(kind, hidden, sparsity, {
            "the initial W_rec and its spectral radius":
                WEIGHT_BYTES_PER_ENTRY * nnz + (8 * hidden * hidden if dense else 0)})
    except TooLarge as e:
        raise click.ClickException(str(e)) from None
    m = make_mask(kind, hidden, sparsity, seed)
    st = mask_stats(m, kind)
    if kind == "locality":
        click.echo("sheet: {} x {} (periodic)".format(*sheet_shape(hidden)))
    elif kind == "ring":
        click.echo(f"ring: {hidden} neurons (periodic)")
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
        _save_plot(m, kind, plot_path, force)
        click.echo(f"saved {plot_path}")
