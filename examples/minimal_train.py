"""Train a locality-masked RNN on the 20 Yang et al. 2019 tasks, in one screen.

    python examples/minimal_train.py              # 500 updates: 1-2 min on 2 cores, perf ~0.85
    python examples/minimal_train.py --steps 50   # a quick look

The public API only, nothing written to disk. `refrnn train` does the same
with a run directory around it (checkpoints, metrics, resume): see
refrnn/run/loop.py for that loop.
"""
import argparse

import numpy as np

import refrnn

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--steps", type=int, default=500, help="Adam updates")
ap.add_argument("--hidden", type=int, default=256, help="recurrent units N")
args = ap.parse_args()

# 1. Trials in memory: 200 for training and 50 held out per task, noise-free
#    (input noise is added when a batch is served).
names = refrnn.task_names("yang19")
rng = np.random.default_rng(0)
train = {t: refrnn.get_task(t).generate(200, rng) for t in names}
test = {t: refrnn.get_task(t).generate(50, rng) for t in names}
sampler = refrnn.StreamSampler(train, names, batch_size=32, seq_len=200, seed=1)

# 2. The model: inputs = 33 observation units + one per task; W_rec on a
#    locality mask keeping 4% of the N*N connections (its nearest neighbours).
config = refrnn.ModelConfig(n_in=refrnn.N_OBS + len(names), n_out=refrnn.N_CLASSES,
                            hidden=args.hidden, mask="locality", sparsity=0.04)
model = refrnn.RNN(config, seed=0)
opt = refrnn.Adam(model.params, lr=2e-3)

# 3. The loop: forward with recurrent noise, loss, backward (BPTT), clip, Adam.
for step in range(1, args.steps + 1):
    batch = sampler.next()  # x (T, B, n_in), labels (T, B), weights (T, B)
    y, record = model.forward(batch.x, rng=model.backend.rng(step))
    loss, dy = refrnn.cross_entropy(y, batch.labels, batch.weights)
    grads = model.backward(record, dy)
    refrnn.clip_grad_norm(grads, 1.0)
    opt.step(model.params, grads)
    if step == 1 or step % 10 == 0:
        print(f"step {step:4d}  loss {float(loss):.4f}", flush=True)

# 4. Score every task on its held-out trials, noise off.
scores = refrnn.evaluate(model, test, names)
for t in names:
    print(f"{t:10s} perf {scores[t]['perf']:.2f}")
print(f"mean perf {scores['mean']['perf']:.3f}")
