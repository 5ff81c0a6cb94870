"""Readers of the real formats, each registering itself with :mod:`.readers` (SMAP L3 HDF5 and its
netCDF window, GLDAS Noah 2.1), ISMN in-situ files (:mod:`.ismn`), and lazily opened cases and products
(:mod:`.lazy`). Importing this package registers the built-in readers."""

from ..plugins import load_entry_points
from . import gldas, smap  # noqa: F401  (reader registration side effects)
from .readers import READERS, ROLES, ReaderSpec, SourceData, get_reader, register_reader

load_entry_points("stsg_bench.readers")  # readers of installed plug-in packages

__all__ = ["READERS", "ROLES", "ReaderSpec", "SourceData", "get_reader", "register_reader"]
