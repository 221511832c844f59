"""Backends: where arrays live and the primitives the engine calls.

``backend.get_backend`` is the one place that chooses NumPy or CuPy. The
plain primitives (``plain``) run on either array module and are the
reference every faster one is tested against; ``fast_cpu`` holds the CPU's
threaded ones, ``pattern_products`` the products at the mask's pattern as
dense blocks (W_rec x of a sheet-local mask, the gradient of W_rec),
``threads`` the split of work across cores, and ``noise`` the recurrent
noise streams. Imports nothing of refrnn outside this folder; numpy and
scipy only (cupy, threadpoolctl when present).
"""
