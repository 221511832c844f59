"""Trial generators for the Yang et al. 2019 and Mod-Cog task batteries."""
from .trials import TrialBatch, add_input_noise, input_noise_std  # noqa: F401
