"""The files whose code runs during one update (a stream batch, then
train_step), as docs/architecture.md "One update, file by file" lists them."""
import os
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import refrnn
from refrnn.backends import threads
from refrnn.backends.backend import reference_backend
from refrnn.run import loop

ROOT = os.path.dirname(refrnn.__file__)
COMMON = {"run/loop.py", "data/stream.py", "core/model.py", "core/engine.py",
          "core/activations.py", "core/losses.py", "core/optim.py",
          "backends/backend.py", "backends/threads.py", "backends/noise.py"}
PATH = {"cpu": COMMON | {"backends/fast_cpu.py", "backends/pattern_products.py"},
        "reference": COMMON | {"backends/plain.py"}}


def files_of_one_update(backend):
    names = refrnn.task_names("yang19")
    rng = np.random.default_rng(0)
    train = {t: refrnn.get_task(t).generate(4, rng) for t in names}
    sampler = refrnn.StreamSampler(train, names, batch_size=4, seq_len=20, seed=1)
    config = refrnn.ModelConfig(n_in=refrnn.N_OBS + len(names), hidden=64, sparsity=0.1)
    model = refrnn.RNN(config, seed=0, backend=backend)
    opt = refrnn.Adam(model.params, lr=1e-3)
    cfg = SimpleNamespace(fix_weight=1.0, clip=1.0)

    def update(step):
        rng = model.backend.rng(loop.seed_for(0, loop.NOISE_STREAM, step))
        loop.train_step(model, opt, sampler.next(), rng, cfg)

    update(0)  # the first update builds what later ones reuse
    seen = set()

    def profile(frame, event, arg):
        path = frame.f_code.co_filename
        if event == "call" and path.startswith(ROOT):
            seen.add(os.path.relpath(path, ROOT).replace(os.sep, "/"))

    sys.setprofile(profile)
    try:
        update(1)
    finally:
        sys.setprofile(None)
    return seen


@pytest.mark.parametrize("kind", ["cpu", "reference"])
def test_one_update_runs_the_listed_files(kind, monkeypatch):
    monkeypatch.setattr(threads, "_SETTING", 1)  # one thread: every call is seen here
    backend = "cpu" if kind == "cpu" else reference_backend()
    seen = files_of_one_update(backend)
    assert seen == PATH[kind], (sorted(seen - PATH[kind]), sorted(PATH[kind] - seen))


def test_the_architecture_page_lists_them():
    with open(os.path.join(ROOT, "..", "docs", "architecture.md"), encoding="utf-8") as f:
        page = f.read()
    section = page.split("## One update, file by file")[1].split("\n## ")[0]
    for name in PATH["cpu"] | PATH["reference"]:
        assert f"`{name}`" in section, name
    assert f"| {len(PATH['cpu'])} | {len(PATH['reference'])} |" in section
