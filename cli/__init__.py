"""The `refrnn` command line (installed as the import name ``refrnn_cli``)."""
