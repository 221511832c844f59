"""Files: the layer every other one writes and reads through.

Atomic writes (a temporary name, fsync, rename), the one-line ``FileError``
for every OS failure, locks with a pid inside, warnings shown as lines, the
one CSV writer and text table, and the checksum stored beside every HDF5
dataset. Imports nothing of refrnn; numpy and the standard library only.
"""
