"""Packaging for refrnn: locality-masked RNNs with hand-written BPTT."""
from setuptools import find_packages, setup

setup(
    name="refrnn",
    version="0.1.0",
    description=(
        "Reference implementation of locality-masked recurrent networks "
        "trained with hand-written BPTT on the Yang 2019 and Mod-Cog tasks"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=find_packages(include=["refrnn", "refrnn.*"]) + ["refrnn_cli"],
    package_dir={"refrnn_cli": "cli"},
    install_requires=[
        "numpy>=1.22",
        "scipy>=1.8",
        "h5py>=3.6",
        "click>=8.0",
        # TOML configs: the standard library's tomllib from Python 3.11
        "tomli>=1.1; python_version < '3.11'",
    ],
    extras_require={
        # CuPy wheels are per CUDA major version: gpu (CUDA 12), gpu-cuda13
        "gpu": ["cupy-cuda12x>=12"],
        "gpu-cuda13": ["cupy-cuda13x>=13"],
        "torch": ["torch>=2.0"],
        # dask: the loopback tests of `refrnn sweep --scheduler` run in CI too
        "test": ["pytest>=7", "torch>=2.0", "matplotlib>=3.5", "threadpoolctl>=3",
                 "dask[distributed]>=2024.1"],
        "plot": ["matplotlib>=3.5"],
        # the documentation site (docs/conf.py; Python 3.11+ for Sphinx 9): Sphinx
        # with autodoc, MyST-NB (Markdown pages, executed text notebooks) and MathJax
        # served locally; the tutorials need matplotlib and torch (install the CPU
        # torch pin first, as for the tests)
        "docs": ["sphinx==9.0.4", "myst-nb==1.4.0", "sphinx-mathjax-offline==0.0.2",
                 "matplotlib>=3.5", "torch>=2.0"],
        # lets the CPU path hold BLAS at one thread while it splits work itself
        "speed": ["threadpoolctl>=3"],
        # `refrnn sweep --scheduler`: runs on a dask.distributed cluster
        "dist": ["dask[distributed]>=2024.1"],
        # the same on Slurm/PBS/SGE (examples/slurm_sweep.py)
        "jobqueue": ["dask[distributed]>=2024.1", "dask-jobqueue>=0.8"],
        # parity tests only; neurogym 2.3.1 pins numpy 2.2.* and imports torch
        "neurogym": ["neurogym>=2.3"],
    },
    entry_points={"console_scripts": ["refrnn=refrnn_cli.launch:main"]},
)
