"""Train refrnn's network in PyTorch on refrnn.Dataset, beside `refrnn train`.

    refrnn train --task-set yang19 --steps 300 --sigma-rec 0 --out runs/curve-refrnn
    python examples/torch_learning_curve.py --steps 300 --compare runs/curve-refrnn

The PyTorch side (refrnn.verify.torch_twin.MaskedRNN, autograd, torch.optim.Adam,
clip_grad_norm_) starts from refrnn's initial weights for the same seed and
reads refrnn.Dataset with the training's own batch-stream seed, so both see
bit-identical batches; with recurrent noise off on the refrnn side (the torch
module has none) the two learning curves differ only by float32 rounding.
Writes step, loss, mean_perf to --out (CSV) and, with --compare, prints the
refrnn run's metrics.csv beside it (docs/verify.md, "same data stream").
"""
import argparse
import time

import numpy as np
import torch

import refrnn
from refrnn.files.atomic import atomic_write_text
from refrnn.verify.export import arrays_from_params
from refrnn.score.evaluation import evaluate
from refrnn.verify.torch_twin import MaskedRNN
from refrnn.run.open_run import build_model, load_trials
from refrnn.run.loop import SAMPLER_STREAM, seed_for


class _Scored:
    """What metrics.evaluate needs of a model: forward(x) -> (y, cache), NumPy in and out."""

    backend = None

    def __init__(self, net):
        self.net = net

    def forward(self, x, rng=None):
        with torch.no_grad():
            return self.net(torch.from_numpy(x)).numpy(), None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task-set", default="yang19")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/curve-torch.csv")
    ap.add_argument("--compare", default=None, help="a refrnn run directory to print beside")
    a = ap.parse_args()
    torch.set_num_threads(1)  # two threads spin-waited badly on the shared 2-core machine

    cfg = refrnn.TrainConfig(task_set=a.task_set, steps=a.steps, eval_every=a.eval_every,
                             seed=a.seed, sigma_rec=0.0).resolved()
    _, test, names = load_trials(cfg)
    model = build_model(cfg, "cpu")  # refrnn's initialisation for this seed
    arrays = arrays_from_params(model.params, model.mask.indptr, model.mask.indices, cfg)
    net = MaskedRNN({k: torch.from_numpy(v) for k, v in arrays.items()})
    params = [net.W_in, net.b, net.W_rec, net.W_out, net.b_out]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    ds = refrnn.Dataset(cfg.task_set, batch_size=cfg.batch_size, seq_len=cfg.seq_len,
                        seed=seed_for(cfg.seed, SAMPLER_STREAM), cache_len=1,
                        noise=cfg.input_noise,
                        trials_per_task=cfg.trials_per_task, eval_trials=cfg.eval_trials,
                        cache_seed=cfg.cache_seed)

    def score():
        return evaluate(_Scored(net), test, names, batch_size=cfg.eval_batch_size)["mean"]["perf"]

    rows, losses, t0 = [(0, "", score())], [], time.perf_counter()
    for step in range(1, a.steps + 1):
        x, y = ds()
        out = net(torch.from_numpy(x))
        loss = torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]),
                                                 torch.from_numpy(y).reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.clip)
        opt.step()
        losses.append(loss.item())
        if step % a.eval_every == 0:
            rows.append((step, float(np.mean(losses)), score()))
            losses = []
            print(f"step {step}: loss {rows[-1][1]:.4f}  mean perf {rows[-1][2]:.3f}  "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    atomic_write_text(a.out, "step,loss,mean_perf\n" + "".join(
        f"{s},{lo if lo == '' else repr(lo)},{p!r}\n" for s, lo, p in rows))
    print(f"wrote {a.out}")
    if a.compare:
        import csv
        with open(f"{a.compare}/metrics.csv", newline="") as f:
            ref = {int(r["step"]): r for r in csv.DictReader(f)}
        print(f"{'step':>5} {'loss torch':>10} {'loss refrnn':>11} {'perf torch':>10} "
              f"{'perf refrnn':>11}")
        for s, lo, p in rows:
            r = ref.get(s, {})
            print(f"{s:>5} {lo if lo == '' else f'{lo:.4f}':>10} {r.get('loss', '?')[:6]:>11} "
                  f"{p:>10.3f} {float(r.get('mean_perf', 'nan')):>11.3f}")


if __name__ == "__main__":
    main()
