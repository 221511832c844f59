"""What the model tests share: a network's W_rec as a dense matrix."""
import numpy as np
import scipy.sparse as sp


def dense_w_rec(model) -> np.ndarray:
    """W_rec of ``model`` as a dense (N, N) NumPy array, zero outside the mask:
    the CSR pattern ``model.mask`` with ``params["w_rec"]`` as its data."""
    m = model.mask
    data = model.backend.to_numpy(model.params["w_rec"])
    return sp.csr_matrix((data, m.indices, m.indptr), shape=m.shape).toarray()
