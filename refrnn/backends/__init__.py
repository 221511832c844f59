"""Backends: where arrays live and the primitives the engine calls.

``backend.get_backend`` is the one place that chooses NumPy or CuPy. The
plain primitives (``plain``) run on either array module and are the
reference every faster one is tested against; ``fast_cpu`` holds the CPU's
threaded ones, ``sheet_blocks`` W_rec of a sheet-local mask as dense blocks,
``threads`` the split of rows across cores, ``sampled_product``
the gradient of W_rec on its sparse pattern, and ``noise`` the recurrent
noise streams. Imports nothing of refrnn outside this folder; numpy and
scipy only (cupy, threadpoolctl when present).
"""
