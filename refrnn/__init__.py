"""refrnn: locality-masked leaky RNNs with hand-written BPTT.

A small NumPy-first reference implementation, running the same code on the
CPU (NumPy + scipy.sparse) and on CUDA (CuPy + cupyx.scipy.sparse).
"""
__version__ = "0.1.0"

from .backends.backend import Backend, get_backend  # noqa: F401,E402
from .run.evaluation import evaluate  # noqa: F401,E402
from .run.training import TrainConfig, train  # noqa: F401,E402
from .data.dataset import Dataset  # noqa: F401,E402
