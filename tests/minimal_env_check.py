"""refrnn with numpy and scipy only: import it, train one step on trials made in memory.

    python tests/minimal_env_check.py                    # a venv with only numpy and scipy (.ci/run)
    python tests/minimal_env_check.py --block h5py,click # here: make those unimportable first

``--block`` puts a finder at the front of ``sys.meta_path`` before anything
else is imported, so ``import h5py`` fails as it would where h5py is not
installed. Checks: ``import refrnn`` loads neither h5py nor click; a name that
needs h5py (``refrnn.train``) fails with one line naming it; every other
public name either loads or fails with that kind of line; trials generated in
memory -> StreamSampler -> RNN forward and backward -> Adam step lowers the
loss on that batch; evaluate scores the network. Prints one
``minimal-dependency check: PASS ...`` line and exits 0, or a FAIL line and
exits 1.
"""
import sys


def block(names):
    class Blocked:
        """A meta path finder that refuses ``names`` (and their submodules)."""

        def find_spec(self, fullname, path=None, target=None):
            if fullname.split(".")[0] in names:
                raise ModuleNotFoundError(f"No module named {fullname!r} (blocked)",
                                          name=fullname)
            return None

    sys.meta_path.insert(0, Blocked())


def fail(why):
    print(f"minimal-dependency check: FAIL: {why}", flush=True)
    sys.exit(1)


def check_missing_names(refrnn):
    """Every public name loads or fails with one line; ``train`` needs h5py."""
    import re

    line = re.compile(r"refrnn\.(\w+) needs ([\w.]+): pip install [\w.-]+")
    failed = {}
    for name in refrnn.__all__:
        try:
            getattr(refrnn, name)
        except ImportError as e:
            text = str(e)
            m = line.fullmatch(text)
            if not m or m.group(1) != name:
                fail(f"refrnn.{name} raised {text!r}, not one line 'refrnn.{name} needs X: "
                     "pip install X'")
            failed[name] = m.group(2)
    if failed.get("train") != "h5py":
        fail("refrnn.train should fail naming h5py where h5py cannot be imported; it "
             + (f"named {failed['train']}" if "train" in failed else "loaded")
             + " (is h5py installed here? then pass --block h5py,click)")
    return failed


def train_one_step(refrnn, np):
    """One Adam step on trials generated in memory; returns (loss before, loss after)."""
    names = ["go", "dm1", "dms"]
    rng = np.random.default_rng(0)
    trials = {n: refrnn.get_task(n).generate(8, rng) for n in names}
    sampler = refrnn.StreamSampler(trials, names, batch_size=4, seq_len=60, seed=0)
    batch = sampler.next()
    if batch.x.shape != (60, 4, 33 + len(names)):
        fail(f"batch x has shape {batch.x.shape}")
    model = refrnn.RNN(refrnn.ModelConfig(n_in=33 + len(names), hidden=32), seed=0)
    opt = refrnn.Adam(model.params, lr=1e-3)

    def loss_and_grads():
        y, fwd = model.forward(batch.x)
        loss, dy = refrnn.cross_entropy(y, batch.labels, batch.weights)
        return float(loss), model.backward(fwd, dy)

    before, grads = loss_and_grads()
    norm = refrnn.clip_grad_norm(grads, 1.0)
    if not (np.isfinite(before) and np.isfinite(norm) and norm > 0):
        fail(f"loss {before}, gradient norm {norm}")
    old = {k: v.copy() for k, v in model.params.items()}
    opt.step(model.params, grads)
    if not all(np.any(model.params[k] != old[k]) for k in old):
        fail("the Adam step left a parameter unchanged")
    after, _ = loss_and_grads()
    if not after < before:
        fail(f"one Adam step on the batch did not lower its loss ({before} -> {after})")
    test = {n: refrnn.get_task(n).generate(4, rng) for n in names}
    res = refrnn.evaluate(model, test, names)
    if not 0.0 <= res["mean"]["perf"] <= 1.0:
        fail(f"evaluate gave mean perf {res['mean']['perf']}")
    return before, after


def main(argv):
    blocked = []
    if len(argv) == 2 and argv[0] == "--block":
        blocked = argv[1].split(",")
        block(set(blocked))
    elif argv:
        fail(f"usage: minimal_env_check.py [--block h5py,click], got {argv}")

    for name in ("h5py", "click"):
        if name in sys.modules:
            fail(f"{name} was imported before the check began")
    import numpy as np
    import scipy

    import refrnn
    loaded = [n for n in ("h5py", "click") if n in sys.modules]
    if loaded:
        fail(f"import refrnn imported {', '.join(loaded)}")
    missing = check_missing_names(refrnn)
    before, after = train_one_step(refrnn, np)
    how = f"blocked {','.join(blocked)}" if blocked else "h5py and click not installed"
    need = ", ".join(f"{n} ({p})" for n, p in sorted(missing.items()))
    print(f"minimal-dependency check: PASS (refrnn {refrnn.__version__} from {refrnn.__file__}; "
          f"numpy {np.__version__}, scipy {scipy.__version__}; {how}; one Adam step on "
          f"in-memory trials: loss {before:.4f} -> {after:.4f}; names that say what they "
          f"need: {need})", flush=True)

if __name__ == "__main__":
    main(sys.argv[1:])
