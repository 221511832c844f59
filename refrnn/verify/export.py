"""A trained run as a flat dict of named arrays, and such a dict back into a run.

The dict is what ``refrnn export`` writes, as a PyTorch state dict
(``--format torch``, see :mod:`refrnn.verify.torch_twin`) or a ``.npz``
(``--format npz``), and what ``refrnn import`` reads. Keys, for N hidden
units, n_in = 33 + n_tasks inputs and n_out = 17 outputs, in the run's dtype:

    W_in   (N, n_in)   b      (N,)
    W_rec  (N, N)      dense, zero outside the mask (row = receiving unit)
    mask   (N, N)      0/1, the recurrent pattern (same dtype as W_rec)
    W_out  (n_out, N)  b_out  (n_out,)
    h0     (N,)        the initial state (zeros unless the run trained it)
    refrnn_settings (k,) uint8: UTF-8 JSON, see :func:`export_arrays`

refrnn keeps W_rec as the CSR data vector ``w_rec`` of the mask pattern;
``W_rec[mask != 0]`` in row-major order is exactly ``w_rec``, so the round
trip is bit-exact. A ``.pt`` file is a plain state dict of tensors of these
keys, written with ``torch.save`` (:func:`save_state_dict`) and read with
``torch.load(..., weights_only=True)`` (:func:`load_state_dict`); torch is
imported only inside those two. :class:`refrnn.verify.torch_twin.MaskedRNN`
is a PyTorch module built from such a dict.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..backends.plain import pattern_coordinates
from ..core.masks import make_mask
from ..files.atomic import atomic_output, atomic_write_text
from ..run.checkpoint import Checkpoint, save_checkpoint
from ..run.open_run import load_run
from ..run.run_dir import LAST, prepare_run_dir
from ..run.settings import TrainConfig, load_config_file, normalize_keys
from ..tasks.registry import task_names

EXPORT_FORMAT = "refrnn-export-1"
SETTINGS_KEY = "refrnn_settings"
ARRAY_KEYS = ("W_in", "b", "W_rec", "mask", "W_out", "b_out", "h0")


def encode_settings(settings: dict) -> np.ndarray:
    """JSON text as a (k,) uint8 array (a tensor of it survives weights_only loads)."""
    return np.frombuffer(json.dumps(settings, sort_keys=True).encode("utf-8"),
                         dtype=np.uint8).copy()


def decode_settings(arr) -> dict:
    """Inverse of :func:`encode_settings`; ValueError when it is not such an array."""
    a = np.asarray(arr)
    if a.ndim != 1 or a.dtype != np.uint8:
        raise ValueError(f"{SETTINGS_KEY} must be a 1-D uint8 array of JSON text, "
                         f"got dtype {a.dtype} shape {a.shape}")
    try:
        s = json.loads(a.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{SETTINGS_KEY} is not UTF-8 JSON ({e})") from None
    if not isinstance(s, dict) or s.get("format") != EXPORT_FORMAT:
        raise ValueError(f"{SETTINGS_KEY} has format {s.get('format') if isinstance(s, dict) else s!r},"
                         f" expected {EXPORT_FORMAT!r}")
    return s


OLD_MODEL_KEYS = {"n_hidden": "hidden"}  # files exported before the rename say n_hidden


def model_settings(cfg) -> dict:
    """The ModelConfig fields of a TrainConfig's network (``cfg.model_config()``)."""
    return cfg.model_config().to_dict()


def _settings(cfg, step: int, source: str) -> dict:
    return {"format": EXPORT_FORMAT, "model": model_settings(cfg),
            "task_names": list(task_names(cfg.task_set)), "step": int(step),
            "source": source, "train_config": cfg.to_dict(),
            "layout": "W_rec dense (N, N) zero outside mask; rows receive; x (T, B, n_in)"}


def export_arrays(run_dir, checkpoint=None) -> dict:
    """The named arrays of a run's checkpoint (None: best when it exists, else
    last; "last", "best" or a file path; :func:`refrnn.run.open_run.load_run`).

    ``refrnn_settings`` holds: format, model (ModelConfig fields: sizes,
    activation, alpha, sigma_rec, mask kind, sparsity, mask_seed, dtype,
    train_h0, init_radius), task_names (one-hot order), step, source, train_config (the
    run's config.json) and a one-line layout note.
    Raises ConfigError / CheckpointError (ValueErrors) for a bad run.
    """
    run = load_run(run_dir, checkpoint, device="cpu", trials=False)
    ck = run.checkpoint
    return arrays_from_params(ck.params, ck.mask_indptr, ck.mask_indices, run.config, ck.step,
                              str(run.checkpoint_path))


def arrays_from_params(params: dict, indptr, indices, cfg, step: int = 0, source: str = "") -> dict:
    """The export dict of refrnn parameters (w_rec on the CSR pattern indptr, indices)
    of a network built from TrainConfig ``cfg`` (e.g. a fresh ``RNN``'s params)."""
    n, dtype = int(cfg.hidden), np.dtype(cfg.dtype)
    p = {k: np.asarray(v) for k, v in params.items()}
    pattern = sp.csr_matrix((np.ones(len(indices)), np.asarray(indices), np.asarray(indptr)),
                            shape=(n, n))
    rows, cols = pattern_coordinates(pattern)
    W = np.zeros((n, n), dtype=dtype)
    W[rows, cols] = p["w_rec"]
    M = np.zeros((n, n), dtype=dtype)
    M[rows, cols] = 1
    out = {"W_in": p["W_in"], "b": p["b"], "W_rec": W, "mask": M, "W_out": p["W_out"],
           "b_out": p["b_out"], "h0": p["h0"] if "h0" in p else np.zeros(n, dtype=dtype)}
    out = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in out.items()}
    out[SETTINGS_KEY] = encode_settings(_settings(cfg, step, source))
    return out


def write_npz(arrays: dict, path) -> Path:
    """Write the arrays as an uncompressed .npz, atomically."""
    path = Path(path)
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})
    return path


def save_state_dict(sd: dict, path) -> Path:
    """``torch.save`` a dict of tensors to ``path`` atomically."""
    import torch

    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"state dict entries {bad} are not tensors")
    path = Path(path)
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            torch.save(sd, f)
    return path


def load_state_dict(path) -> dict:
    """Read a state dict file with ``weights_only=True``; dict of NumPy arrays.

    ValueError when the file is not a torch file or holds anything but a flat
    dict of tensors (e.g. a whole pickled module).
    """
    import torch

    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError...
        raise ValueError(f"{str(path)!r} is not a torch state dict readable with "
                         f"weights_only=True ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''})") from None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError(f"{str(path)!r} must hold a flat dict of tensors (a state dict)")
    return {str(k): v.detach().cpu().numpy().copy() for k, v in sd.items()}


def read_npz(path) -> dict:
    """Read a .npz of named arrays (allow_pickle=False: object arrays are refused)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as e:
        raise ValueError(f"{str(path)!r} is not a readable .npz of arrays ({e})") from None


def _train_config(arrays: dict, config, out):
    """(TrainConfig for the new run, settings dict or None) from the file and/or ``config``."""
    settings = decode_settings(arrays[SETTINGS_KEY]) if SETTINGS_KEY in arrays else None
    if settings is None and config is None:
        raise ValueError(f"the file has no {SETTINGS_KEY} entry; give the network's settings "
                         "(task_set, hidden, mask, sparsity, ...) as a config (--config)")
    base = {}
    if settings is not None:
        base = dict(settings["train_config"], cache_path=None)  # the importer's default cache
    if config is not None:
        extra = config.to_dict() if isinstance(config, TrainConfig) else (
            load_config_file(config) if isinstance(config, (str, Path)) else dict(config))
        base.update(normalize_keys(extra))
    base.update(out=str(out), checkpoint_every=None)
    return TrainConfig.from_dict(base).resolved(), settings


def _pattern(cfg):
    """(mask, rows, cols) of the run's recurrent pattern (rows, cols in CSR order)."""
    m = make_mask(cfg.mask, int(cfg.hidden), float(cfg.sparsity), int(cfg.mask_seed))
    return (m, *pattern_coordinates(m))


def _check_arrays(arrays: dict, ms: dict) -> None:
    n, n_in, n_out = ms["hidden"], ms["n_in"], ms["n_out"]
    want = {"W_in": (n, n_in), "b": (n,), "W_rec": (n, n), "W_out": (n_out, n),
            "b_out": (n_out,), "mask": (n, n), "h0": (n,)}
    missing = [k for k in ("W_in", "b", "W_rec", "W_out", "b_out") if k not in arrays]
    if missing:
        raise ValueError(f"missing array(s) {missing}; expected {list(ARRAY_KEYS)}")
    unknown = sorted(set(arrays) - set(want) - {SETTINGS_KEY})
    if unknown:
        raise ValueError(f"unknown array(s) {unknown}; expected {list(ARRAY_KEYS)}")
    for k, a in arrays.items():
        if k == SETTINGS_KEY:
            continue
        if tuple(a.shape) != want[k]:
            raise ValueError(f"{k} has shape {tuple(a.shape)}, this network needs {want[k]} "
                             f"(hidden {n}, {n_in} inputs, {n_out} outputs)")
        if a.dtype.kind != "f" or not np.all(np.isfinite(a)):
            raise ValueError(f"{k} must hold finite floating-point values (dtype {a.dtype})")


def import_arrays(arrays: dict, out, *, config=None, force: bool = False) -> Path:
    """Write a run directory (config.json, last.h5) from named arrays.

    Args:
        arrays: dict of NumPy arrays with the keys of the module docstring
            (``mask`` and ``h0`` optional; ``refrnn_settings`` optional when
            ``config`` is given).
        out: the run directory to create (must be empty unless ``force``).
        config: TrainConfig, dict or JSON/TOML file path of settings; these
            override the file's ``train_config``.
    The recurrent pattern must be refrnn's mask for the settings' (mask,
    hidden, sparsity, mask_seed): ``refrnn eval`` rebuilds it from them.
    W_rec must be zero outside it; ``w_rec = W_rec[mask != 0]``. A nonzero
    h0 turns ``train_h0`` on. The checkpoint has no optimiser or sampler
    state: it is for ``refrnn eval``, not ``--resume``. ValueError on any
    mismatch, before anything is written.
    """
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    cfg, settings = _train_config(arrays, config, out)
    if "h0" in arrays and np.any(arrays["h0"] != 0) and not cfg.train_h0:
        cfg = cfg.replace(train_h0=True).resolved()
    ms = model_settings(cfg)
    if settings is not None and config is None:
        # files exported before init_radius was recorded lack it: compare what they say
        said = {OLD_MODEL_KEYS.get(k, k): v for k, v in settings["model"].items()
                if k != "train_h0"}
        if said != {k: ms[k] for k in said if k in ms}:
            raise ValueError(f"{SETTINGS_KEY}: model {said} does not match its train_config")
    _check_arrays(arrays, ms)
    m, rows, cols = _pattern(cfg)
    if "mask" in arrays:
        r, c = np.nonzero(arrays["mask"])
        if r.size != cols.size or np.any(r != rows) or np.any(c != cols):
            raise ValueError(f"mask (nnz {r.size}) is not refrnn's {cfg.mask!r} mask for "
                             f"hidden={cfg.hidden}, sparsity={cfg.sparsity}, "
                             f"mask_seed={cfg.mask_seed} (nnz {cols.size})")
    W = arrays["W_rec"]
    outside = np.count_nonzero(W) - np.count_nonzero(W[rows, cols])
    if outside:
        raise ValueError(f"W_rec has {outside} nonzero entries outside the {cfg.mask!r} mask")
    dtype = np.dtype(cfg.dtype)
    params = {"W_in": arrays["W_in"], "b": arrays["b"], "w_rec": W[rows, cols],
              "W_out": arrays["W_out"], "b_out": arrays["b_out"]}
    if cfg.train_h0:
        params["h0"] = arrays.get("h0", np.zeros(int(cfg.hidden)))
    params = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in params.items()}
    if not force and cfg.out_dir.is_dir() and any(cfg.out_dir.iterdir()):
        raise ValueError(f"{str(cfg.out_dir)!r} is not empty; pass --force (force=True) "
                         "to replace its run files")
    prepare_run_dir(cfg, resume=False, force=force)
    atomic_write_text(cfg.out_dir / "config.json", cfg.to_json())
    step = int(settings["step"]) if settings is not None else 0
    save_checkpoint(cfg.out_dir / LAST, Checkpoint(
        step=step, params=params, mask_indptr=m.indptr, mask_indices=cols,
        mask_shape=tuple(m.shape), optim={}, config=cfg.to_dict(),
        extra={"imported": settings["source"] if settings else "user arrays"}))
    return cfg.out_dir
