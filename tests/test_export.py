"""refrnn export / import: torch state dict and .npz, MaskedRNN against refrnn eval."""
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from refrnn.run.checkpoint import load_checkpoint
from refrnn.run.settings import TrainConfig
from refrnn.data.whole_trials import trial_batch
from refrnn.verify.export import (SETTINGS_KEY, decode_settings, encode_settings, export_arrays,
                                  import_arrays, read_npz, write_npz)
from refrnn.score.evaluation import score_outputs
from refrnn.run.open_run import evaluate_run
from refrnn.run.training import train
from refrnn_cli.main import cli

torch = pytest.importorskip("torch")
from refrnn.verify.export import load_state_dict, save_state_dict  # noqa: E402
from refrnn.verify.torch_twin import MaskedRNN  # noqa: E402

TINY = dict(task_set="yang19", hidden=36, sparsity=0.1, batch_size=8, seq_len=60, steps=40,
            eval_every=20, trials_per_task=12, eval_trials=4, lr=1e-2, quiet=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two trained runs sharing a cache: relu alpha 1; tanh alpha 0.5 with a trained h0."""
    from refrnn.data.cache import build_cache
    base = tmp_path_factory.mktemp("export")
    cache = str(build_cache("yang19", 12, 0, eval_trials=4, path=base / "c.h5"))
    a = train(**TINY, cache_path=cache, out=str(base / "relu")).out
    b = train(**TINY, cache_path=cache, out=str(base / "tanh"), activation="tanh", tau=200.0,
              train_h0=True, mask="random").out
    return {"relu": a, "tanh": b, "cache": cache}


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("REFRNN_CACHE_DIR", str(tmp_path / "cache"))


def torch_scores(net, run):
    """Per-task perf/decision accuracy of a torch module on the run's test trials, and the
    largest |y_torch - y_refrnn| over all of them."""
    from refrnn.run.checkpoint import restore_params
    from refrnn.run.open_run import build_model, load_trials
    cfg = TrainConfig.load(run / "config.json")
    _, test, names = load_trials(cfg)
    model = build_model(cfg, None)
    restore_params(model, load_checkpoint(run / "last.h5"))
    out, worst = {}, 0.0
    for i, t in enumerate(names):
        b, ds, ln = trial_batch(test[t], i, len(names), np.arange(test[t].n_trials))
        y, _ = model.forward(b.x)
        with torch.no_grad():
            yt = net(torch.from_numpy(b.x)).numpy()
        worst = max(worst, float(np.abs(yt - y).max()))
        ok, hits, steps = score_outputs(yt.argmax(-1), b.labels, ds, ln)
        out[t] = (ok.mean(), hits / steps)
    return out, worst


@pytest.mark.parametrize("kind", ["relu", "tanh"])
def test_torch_module_reproduces_refrnn_eval(runs, tmp_path, kind):
    run = runs[kind]
    pt = tmp_path / "run.pt"
    r = CliRunner().invoke(cli, ["export", str(run), "--checkpoint", "last", "--format", "torch",
                                 "--out", str(pt)])
    assert r.exit_code == 0, r.output
    sd = torch.load(pt, weights_only=True)
    assert set(sd) == {"W_in", "b", "W_rec", "mask", "W_out", "b_out", "h0", SETTINGS_KEY}
    assert sd["W_rec"].dtype == torch.float32 and sd[SETTINGS_KEY].dtype == torch.uint8
    assert torch.all(sd["W_rec"][sd["mask"] == 0] == 0)
    net = MaskedRNN(sd)
    scores, worst = torch_scores(net, run)
    assert worst <= 1e-5
    ev = evaluate_run(run, checkpoint="last")
    for t, (perf, acc) in scores.items():
        assert perf == ev[t]["perf"] and acc == ev[t]["decision_acc"], t
    # the module's own state dict has the export's keys and values
    again = net.state_dict()
    assert set(again) == set(sd) and all(torch.equal(again[k], sd[k]) for k in sd)


@pytest.mark.parametrize("fmt", ["torch", "npz"])
def test_round_trip_is_bit_identical(runs, tmp_path, fmt):
    run = runs["tanh"]
    f = tmp_path / ("x.pt" if fmt == "torch" else "x.npz")
    runner = CliRunner()
    assert runner.invoke(cli, ["export", str(run), "--checkpoint", "last", "--format", fmt,
                               "--out", str(f)]).exit_code == 0
    r = runner.invoke(cli, ["import", str(f), "--out", str(tmp_path / "back")])
    assert r.exit_code == 0, r.output
    a, b = load_checkpoint(run / "last.h5"), load_checkpoint(tmp_path / "back" / "last.h5")
    assert list(a.params) == list(b.params) and a.step == b.step
    for k in a.params:
        assert a.params[k].dtype == b.params[k].dtype
        assert a.params[k].tobytes() == b.params[k].tobytes(), k
    assert np.array_equal(a.mask_indices, b.mask_indices)
    r = runner.invoke(cli, ["eval", str(tmp_path / "back")])
    assert r.exit_code == 0, r.output
    assert evaluate_run(tmp_path / "back") == evaluate_run(run, checkpoint="last")


def test_users_torch_model_becomes_a_scored_run(runs, tmp_path):
    """A state dict from the user's own training (here: a few Adam steps on W_rec and h0)."""
    net = MaskedRNN({k: torch.from_numpy(v) for k, v in export_arrays(runs["relu"]).items()})
    opt = torch.optim.Adam([net.W_rec, net.h0, net.W_out], lr=1e-2)
    x = torch.randn(20, 4, net.W_in.shape[1], generator=torch.Generator().manual_seed(0))
    for _ in range(3):
        opt.zero_grad()
        net(x).square().mean().backward()
        opt.step()
    assert torch.all(net.W_rec.grad[net.mask == 0] == 0)
    f = save_state_dict(net.state_dict(), tmp_path / "mine.pt")
    out = import_arrays(load_state_dict(f), tmp_path / "mine")
    ck = load_checkpoint(out / "last.h5")
    assert "h0" in ck.params and TrainConfig.load(out / "config.json").train_h0
    scores, _ = torch_scores(net, out)
    ev = evaluate_run(out)
    assert all(scores[t][0] == ev[t]["perf"] for t in scores)


def test_import_errors_are_one_line(runs, tmp_path):
    arrays = export_arrays(runs["relu"])
    runner = CliRunner()

    def imp(arr, *extra, name="bad.npz"):
        write_npz(arr, tmp_path / name)
        return runner.invoke(cli, ["import", str(tmp_path / name), "--out",
                                   str(tmp_path / "out"), *extra])

    outside = dict(arrays, W_rec=arrays["W_rec"].copy())
    outside["W_rec"][arrays["mask"] == 0] = 0.5
    r = imp(outside)
    assert r.exit_code == 1 and "outside the 'locality' mask" in r.output
    assert not (tmp_path / "out").exists()  # nothing written
    r = imp(dict(arrays, W_in=arrays["W_in"][:, :5]))
    assert r.exit_code == 1 and "W_in has shape" in r.output
    no_settings = {k: v for k, v in arrays.items() if k != SETTINGS_KEY}
    r = imp(no_settings)
    assert r.exit_code == 1 and "--config" in r.output
    r = imp(no_settings, "--config", str(runs["relu"] / "config.json"))
    assert r.exit_code == 0, r.output
    r = imp(no_settings, "--config", str(runs["relu"] / "config.json"))
    assert r.exit_code == 1 and "not empty; pass --force" in r.output
    other = dict(arrays, mask=np.eye(36, dtype=np.float32))
    r = imp(other, "--force")
    assert r.exit_code == 1 and "is not refrnn's" in r.output
    r = runner.invoke(cli, ["import", str(runs["relu"] / "config.json"), "--out", "x"])
    assert r.exit_code == 1 and "weights_only" in r.output
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")  # a pickled module
    r = runner.invoke(cli, ["import", str(tmp_path / "module.pt"), "--out", str(tmp_path / "m")])
    assert r.exit_code == 1 and "weights_only" in r.output and "Traceback" not in r.output
    np.savez(tmp_path / "obj.npz", W_in=np.array([{"a": 1}], dtype=object))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    for name in ("obj.npz", "junk.npz"):  # pickled objects are refused, never loaded
        with pytest.raises(ValueError, match="not a readable .npz"):
            read_npz(tmp_path / name)


def test_export_errors(runs, tmp_path):
    runner = CliRunner()
    r = runner.invoke(cli, ["export", str(tmp_path), "--out", str(tmp_path / "x.pt")])
    assert r.exit_code == 2 and "not a run directory" in r.output
    r = runner.invoke(cli, ["export", str(runs["relu"]), "--format", "onnx", "--out", "x"])
    assert r.exit_code == 2


def test_npz_path_needs_no_torch(runs, tmp_path):
    code = ("import sys; from refrnn.verify.export import export_arrays, write_npz; "
            f"write_npz(export_arrays({str(runs['relu'])!r}), {str(tmp_path / 'a.npz')!r}); "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert set(read_npz(tmp_path / "a.npz")) >= {"W_in", "W_rec", SETTINGS_KEY}


def test_export_settings_are_the_runs_model_config(runs):
    """Training and export share TrainConfig.model_config(): init_radius included."""
    for kind in ("relu", "tanh"):
        cfg = TrainConfig.load(runs[kind] / "config.json")
        s = decode_settings(export_arrays(runs[kind])[SETTINGS_KEY])
        assert s["model"] == cfg.model_config().to_dict()
        assert s["model"]["init_radius"] == cfg.init_radius


def test_exported_settings_rebuild_the_same_initial_network():
    # init_radius 0.5 is not the default: dropping it would rebuild other weights
    from refrnn.core.model import RNN, ModelConfig
    from refrnn.verify.export import arrays_from_params

    cfg = TrainConfig(task_set="yang19", hidden=36, sparsity=0.1, init_radius=0.5).resolved()
    model = RNN(cfg.model_config(), seed=cfg.seed)
    arrays = arrays_from_params(model.params, model.mask.indptr, model.mask.indices, cfg)
    ms = decode_settings(arrays[SETTINGS_KEY])["model"]
    assert ms["init_radius"] == 0.5
    again = RNN(ModelConfig(**ms), seed=cfg.seed)
    for k, v in model.params.items():
        assert np.array_equal(again.params[k], v), k
    assert np.array_equal(arrays["W_rec"][arrays["mask"] != 0], model.params["w_rec"])


def test_an_export_without_init_radius_still_imports(runs, tmp_path):
    """Files exported before init_radius was recorded in the settings."""
    arrays = export_arrays(runs["relu"])
    s = decode_settings(arrays[SETTINGS_KEY])
    del s["model"]["init_radius"]
    arrays[SETTINGS_KEY] = encode_settings(s)
    out = import_arrays(arrays, tmp_path / "old")
    assert evaluate_run(out) == evaluate_run(runs["relu"])


def test_an_export_that_says_n_hidden_still_imports(runs, tmp_path):
    """Files exported while ModelConfig named the unit count n_hidden."""
    arrays = export_arrays(runs["relu"])
    s = decode_settings(arrays[SETTINGS_KEY])
    s["model"]["n_hidden"] = s["model"].pop("hidden")
    arrays[SETTINGS_KEY] = encode_settings(s)
    out = import_arrays(arrays, tmp_path / "old")
    assert evaluate_run(out) == evaluate_run(runs["relu"])
    s["model"]["n_hidden"] += 1  # a wrong count is still caught
    arrays[SETTINGS_KEY] = encode_settings(s)
    with pytest.raises(ValueError, match="does not match"):
        import_arrays(arrays, tmp_path / "wrong")
