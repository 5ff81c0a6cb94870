"""Fusion methods behind one interface (:class:`~stsg_bench.methods.base.Method`) and a registry.

Importing this package registers every built-in method; DrcGAN registers from
:mod:`stsg_bench.methods.drcgan` (it wraps :mod:`stsg_bench.fusion`).
"""
from . import dctpls, scaling, simple, starfm  # noqa: F401  (registration side effects)
from .base import (
    Method,
    MethodConfig,
    get_method,
    list_methods,
    load_method_config,
    method_class,
    method_description,
    register,
)

try:  # DrcGAN needs only torch, which is a hard dependency; keep the import explicit
    from . import drcgan  # noqa: F401
except ImportError as exc:  # pragma: no cover - only while the module is being developed
    import logging

    logging.getLogger(__name__).debug("drcgan not registered: %s", exc)

__all__ = ["Method", "MethodConfig", "get_method", "list_methods", "load_method_config", "method_class", "method_description", "register"]
