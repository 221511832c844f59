"""Files: the layer every other one writes and reads through.

Atomic writes (a temporary name, fsync, rename), the one-line ``FileError``
for every OS failure, locks with a pid inside, warnings shown as lines, the
one CSV writer and text table, and the checksummed HDF5 datasets of caches
and checkpoints (``checked_h5``, the one module here that imports h5py).
Imports nothing of refrnn; numpy and the standard library otherwise.
"""
