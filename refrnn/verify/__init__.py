"""Verify: checks of refrnn against independent computations, and the bridges out.

``finite_diff`` checks every gradient against central finite differences in
float64; ``torch_twin`` is the one PyTorch twin of the network (the same
equation written with autograd; ``MaskedRNN`` is it built from an exported
state dict); ``parity`` compares refrnn with it; ``export`` writes a run's
weights for other tools (.npz, or a torch state dict) and imports them back. Imports ``refrnn.run``
and the layers below it, never ``refrnn.experiments``; torch only inside the
functions that need it.
"""
