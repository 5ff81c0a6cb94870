"""Fusion methods behind one interface (:class:`~stsg_bench.methods.base.Method`) and a registry.

Importing this package registers every built-in method (each module registers its own with
``@register``); DrcGAN registers from :mod:`stsg_bench.methods.drcgan`, which wraps
:mod:`stsg_bench.fusion`. :func:`predict_lazy` streams any fitted method over time chunks.
"""

from ..plugins import load_entry_points
from . import dctpls, drcgan, scaling, simple, starfm, trivial  # noqa: F401  (registration side effects)
from .base import (
    KINDS,
    Method,
    MethodConfig,
    default_methods,
    get_method,
    list_methods,
    load_method_config,
    method_class,
    method_description,
    register,
    visible_case,
)
from .stream import predict_lazy

load_entry_points("stsg_bench.methods")  # methods of installed plug-in packages

__all__ = [
    "KINDS",
    "Method",
    "MethodConfig",
    "default_methods",
    "get_method",
    "list_methods",
    "load_method_config",
    "method_class",
    "method_description",
    "register",
    "visible_case",
    "predict_lazy",
]
