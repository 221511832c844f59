"""Data: trials from the task generators to the batches a step trains on.

``cache`` decides when the HDF5 trial cache is built, reused or rebuilt;
``cache_file`` is that file's layout, written and read in one place;
``compact`` holds the loaded trials as a table of distinct steps;
``stream`` is the sampler that serves fixed-length streams of trials as
model inputs (one-hot rule units, input noise); ``whole_trials`` pads whole
trials of one task into a batch (evaluation);
``dataset`` is the neurogym-shaped ``Dataset``. Imports ``refrnn.tasks``,
``refrnn.backends`` and ``refrnn.files``.
"""
