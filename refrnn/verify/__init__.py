"""Verify: checks of refrnn against independent computations, and the bridges out.

``finite_diff`` checks every gradient against central finite differences in
float64; ``torch_twin`` is the one PyTorch twin of the network (the same
equation written with autograd) and the parity report; ``export`` writes a
run's weights for other tools and imports them back. Imports ``refrnn.run``
and the layers below it, never ``refrnn.experiments``; torch only inside the
functions that need it.
"""
