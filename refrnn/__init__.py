"""refrnn: locality-masked leaky RNNs with hand-written BPTT.

A small NumPy-first reference implementation, running the same code on the
CPU (NumPy + scipy.sparse) and on CUDA (CuPy + cupyx.scipy.sparse).

This module is the public surface a script needs; the layers it comes from
are drawn in docs/architecture.md. ``import refrnn`` needs numpy and scipy
only: the model, backends, tasks and the in-memory sampler are imported now;
the names of ``refrnn.run`` and of the HDF5-backed data (the trial cache,
``Dataset``) load on first use, and fail then with one line naming what is
missing (``refrnn.train needs h5py: pip install h5py``).

    import numpy as np, refrnn
    names = refrnn.task_names("yang19")
    trials = {n: refrnn.get_task(n).generate(64, np.random.default_rng(0)) for n in names}
    sampler = refrnn.StreamSampler(trials, names, batch_size=16, seq_len=100)
    model = refrnn.RNN(refrnn.ModelConfig(n_in=33 + len(names)))
"""
import importlib

__version__ = "0.1.0"

from .backends.backend import Backend, available_devices, get_backend  # noqa: E402
from .core.losses import cross_entropy, masked_mse  # noqa: E402
from .core.masks import MASK_KINDS, make_mask  # noqa: E402
from .core.model import RNN, ModelConfig  # noqa: E402
from .core.optim import Adam, clip_grad_norm  # noqa: E402
from .data.stream import Batch, StreamSampler  # noqa: E402
from .data.whole_trials import trial_batch  # noqa: E402
from .files.errors import FileError  # noqa: E402
from .files.locks import LockError  # noqa: E402
from .tasks import TASK_SETS, TaskEnv, TrialBatch, get_task, make_trial, task_names  # noqa: E402
from .tasks.trials import N_CLASSES, N_OBS  # noqa: E402

# name -> module, imported on first use (they need h5py, or click, or the run layer)
_LAZY = {
    "TrainConfig": "refrnn.run.settings",
    "ConfigError": "refrnn.run.settings",
    "train": "refrnn.run.training",
    "evaluate_run": "refrnn.run.open_run",
    "RunResult": "refrnn.run.harness",
    "TrainingDiverged": "refrnn.run.loop",
    "evaluate": "refrnn.score.evaluation",
    "CheckpointError": "refrnn.run.checkpoint",
    "build_cache": "refrnn.data.cache",
    "open_cache": "refrnn.data.cache",
    "get_or_build_cache": "refrnn.data.cache",
    "TrialCache": "refrnn.data.cache",
    "CacheError": "refrnn.data.cache",
    "Dataset": "refrnn.data.dataset",
}
# import name -> what pip installs
_PIP_NAMES = {"h5py": "h5py", "click": "click", "tomli": "tomli"}

__all__ = sorted(
    ["Backend", "available_devices", "get_backend", "cross_entropy", "masked_mse",
     "MASK_KINDS", "make_mask", "RNN", "ModelConfig", "Adam", "clip_grad_norm", "Batch",
     "StreamSampler", "trial_batch", "FileError", "LockError", "TASK_SETS", "TaskEnv",
     "TrialBatch",
     "get_task", "make_trial", "task_names", "N_CLASSES", "N_OBS"] + list(_LAZY))


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'refrnn' has no attribute {name!r}")
    try:
        module = importlib.import_module(_LAZY[name])
    except ModuleNotFoundError as e:
        missing = (e.name or "").split(".")[0]
        if not missing or missing == "refrnn":
            raise
        pip = _PIP_NAMES.get(missing, missing)
        raise ImportError(f"refrnn.{name} needs {missing}: pip install {pip}",
                          name=missing) from None
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
