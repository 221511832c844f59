"""Experiments: many runs, and what they add up to.

``grid`` expands a sweep's settings into runs with labels; ``one_run``
trains one of them and writes (and reads) its done marker and failed flag;
``sweep`` runs them locally, one child process each, and resumes;
``dask_client`` and ``dask_worker`` run the same grid on a dask.distributed
cluster; ``summary`` reads finished runs into tables; ``plots`` draws them
(the plot extra). Imports ``refrnn.run`` and the layers below it, never
``refrnn.verify``.
"""
