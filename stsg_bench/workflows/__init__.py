"""Workflows: the stages composed into what the CLI runs — the full chain (``demo``, ``run``), single
stages (``fuse``, ``train``, ``score``), per-year resumable products and the archive-scale chain
(``scale``), and where Dask work runs (``--scheduler``). The top floor below the CLI."""
