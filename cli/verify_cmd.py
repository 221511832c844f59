"""`refrnn verify`: finite-difference gradient checks, then the PyTorch parity check."""
from __future__ import annotations

import click

from refrnn.verify import parity
from refrnn.verify.finite_diff import LOSSES, check_all
from refrnn.core.masks import MASK_KINDS
from refrnn.core.model import ACTIVATIONS

TOLERANCE = 1e-6
PARITY_ABS = 1e-10
PARITY_REL = 1e-8


def _torch_parity(cases):
    """Run refrnn.verify.parity.parity_report on each case, if torch imports.

    Returns (lines, failed) or (None, reason) when the check is skipped.
    Pass: states, outputs and loss within 1e-10 (absolute), every gradient
    within 1e-8 (relative).
    """
    try:
        import torch  # noqa: F401
    except ImportError as e:
        return None, f"torch check skipped ({e})"
    lines, failed = [], 0
    for case in cases:
        r = parity.parity_report(**case)
        states = max(r[k]["max_abs"] for k in ("h", "y", "loss"))
        grads = max(v["max_rel"] for k, v in r.items() if k.startswith("grad/"))
        ok = states <= PARITY_ABS and grads <= PARITY_REL
        failed += not ok
        name = f"{case['mask']:9s} {case['activation']:10s} {case['loss']:13s}"
        lines.append(f"{name} states {states:.1e}  grads {grads:.1e} {'ok' if ok else 'FAIL'}")
    return lines, failed


@click.command("verify")
@click.option("--quick", is_flag=True, help="one activation and loss per mask kind")
@click.option("--no-torch", is_flag=True, help="skip the PyTorch parity check")
def verify(quick, no_torch):
    """Check the hand-written gradients (central differences, float64) and PyTorch parity."""
    acts = ("tanh",) if quick else ACTIVATIONS
    losses = ("cross_entropy",) if quick else LOSSES
    alphas = (0.2,) if quick else (1.0, 0.2)
    worst, failed = 0.0, 0
    click.echo(f"{'mask':9s} {'activation':10s} {'loss':13s} {'alpha':>5s}  max rel. error")
    for r in check_all(masks=MASK_KINDS, activations=acts, losses=losses, alphas=alphas):
        ok = r["max_error"] < TOLERANCE and r["kink_safe"]
        failed += not ok
        worst = max(worst, r["max_error"])
        click.echo(f"{r['mask']:9s} {r['activation']:10s} {r['loss']:13s} {r['alpha']:5.2f}  "
                   f"{r['max_error']:.2e} {'ok' if ok else 'FAIL'}")
    click.echo(f"finite differences: worst {worst:.2e} (tolerance {TOLERANCE:g}), "
               f"{failed} failed")
    if not no_torch:
        # N = 36 at sparsity 0.08 keeps the sparse masks on the sparse path.
        cases = [dict(mask=m, activation=a, loss=lo, alpha=0.5, train_h0=True,
                      hidden=36, sparsity=0.08)
                 for m in MASK_KINDS for a in acts for lo in losses]
        lines, result = _torch_parity(cases)
        if lines is None:
            click.echo(result)
        else:
            click.echo("torch parity (float64):")
            for line in lines:
                click.echo("  " + line)
            failed += result
    if failed:
        raise SystemExit(1)
