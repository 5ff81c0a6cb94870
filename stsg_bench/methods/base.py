"""The method interface every fusion method implements (DrcGAN included), and the method registry.

A method is fitted on a training period of a case and predicts daily fields for any period::

    m = get_method("lin_cdf_match", min_common_days=30).fit(case, ("2017-01-01", "2017-12-31"))
    product = m.predict(case, ("2018-01-01", "2018-12-31"))   # xarray DataArray (time, y, x)

``predict`` receives the whole case (methods may use SMAP references outside the output period) and
returns a CF-annotated ``DataArray`` named ``sm``. Unless the method is a pure model (``noah_raw``), the
product *passes usable SMAP through unchanged* and fills only the gaps; ocean is NaN.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import xarray as xr

from .. import kernels, resources
from ..case import SM_MAX, select_period, sm_attrs, valid_smap
from ..configs import closest, typed_values
from ..errors import ConfigError, InputError, MethodError
from ..files import read_toml

log = logging.getLogger(__name__)
Period = tuple[str, str] | slice | None


@dataclass
class MethodConfig:
    """Options shared by every method."""

    passthrough: bool = True  # keep usable SMAP unchanged where it exists


#: case variables no method may see (the twin's known truth); removed in :meth:`Method.fit`/`predict`
HIDDEN_VARS = ("truth",)
#: what a method's product is: a complete model field that ignores SMAP (``model``), usable SMAP with the
#: gaps left empty (``observation``), or usable SMAP with the gaps filled (``gap_filler``)
KINDS = ("model", "observation", "gap_filler")


def clamp_physical(values: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Values clipped to the physical range [0, :data:`SM_MAX`] (NaN kept), with how many were below
    and above it: no method writes soil moisture that cannot exist."""
    with np.errstate(invalid="ignore"):
        low, high = int(np.sum(values < 0.0)), int(np.sum(values > SM_MAX))
    if low or high:
        values = np.clip(values, 0.0, SM_MAX)
    return values, low, high


def visible_case(case: xr.Dataset) -> xr.Dataset:
    """The case as methods see it: without :data:`HIDDEN_VARS`."""
    hidden = [v for v in HIDDEN_VARS if v in case]
    return case.drop_vars(hidden) if hidden else case


class Method(ABC):
    """Base class: subclasses set ``name``, ``order``, ``kind``, ``halo_days``, ``Config`` and
    ``description`` and implement ``_predict`` (and ``_fit`` when ``needs_fit``).

    Everything the workflows need to know about a method is declared here, on the class, so no workflow
    names a method: its display position (``order``), what its product is (``kind``), whether it reads
    and writes checkpoints (``supports_checkpoint``), how many days of context a prediction needs
    (``halo_days``) and the config it needs to be predicted in time chunks (``stream_overrides``)."""

    name: ClassVar[str]
    #: position in tables and the demo (lower first; ties sorted by name)
    order: ClassVar[int]
    #: one of :data:`KINDS`
    kind: ClassVar[str] = "gap_filler"
    Config: ClassVar[type] = MethodConfig
    description: ClassVar[str] = ""
    needs_fit: ClassVar[bool] = False
    supports_checkpoint: ClassVar[bool] = False
    #: run by ``demo``/``run`` when no method list is given (ablations: False, opt-in by name)
    in_default_runs: ClassVar[bool] = True
    #: the method this one is an ablation of ('' for none): reports keep ablations out of baseline picks
    ablation_of: ClassVar[str] = ""
    #: the suite's centrepiece (DrcGAN): the product the station panels and maps show first
    centrepiece: ClassVar[bool] = False
    #: config overrides applied when the method is predicted in time chunks at archive scale (e.g. a
    #: finite reference age, so ``halo_days`` is finite); user overrides win
    stream_overrides: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: Any = None, **overrides):
        if config is None:
            config = self.Config()
        if overrides:  # a grouped config (DrcGAN's) changes settings by name through its own replace()
            replace = getattr(config, "replace", None)
            config = replace(**overrides) if callable(replace) else dataclasses.replace(config, **overrides)
        self.config = config
        self.fitted = not self.needs_fit
        self.fit_info: dict[str, Any] = {}

    @property
    @abstractmethod
    def halo_days(self) -> int | None:
        """Days of case context a prediction needs on each side of its output days (0: each day alone;
        None: any day of the case may matter, so the prediction cannot be split into time chunks)."""

    @classmethod
    def typed_overrides(cls, config: dict[str, Any], where: str) -> dict[str, Any]:
        """Config overrides checked and converted by the Config's field types (unknown keys: an error naming
        the closest); methods whose config is grouped (DrcGAN) open their group tables here."""
        return typed_values(cls.Config, config, where)

    @classmethod
    def make_config(cls, **config) -> Any:
        """Build the config from keyword overrides (methods with presets override this)."""
        return cls.Config(**config)

    # -- the interface ---------------------------------------------------------------------------
    def fit(self, case: xr.Dataset, period: Period = None, progress: bool = False) -> Method:
        """Learn whatever the method needs from the training period only (``progress``: a progress
        bar for methods that train for a while)."""
        kernels.configure()  # $STSG_KERNELS: a Dask worker process pins the kernels its parent pinned
        case = visible_case(case)
        train = select_period(case, period)
        if train.sizes["time"] == 0:
            raise MethodError(f"{self.name}: the training period {period} selects no day of the case")
        if self.needs_fit and self.kind != "model" and not bool(valid_smap(train).any()):
            raise MethodError(f"{self.name}: no usable SMAP value in the training period {period}: nothing to learn")
        self._fit_case(case, train, period, progress)
        self.fitted = True
        return self

    def predict(self, case: xr.Dataset, period: Period = None) -> xr.DataArray:
        """Daily fields for ``period`` (default: the whole case)."""
        if not self.fitted:
            raise MethodError(f"{self.name}: predict() called before fit()")
        kernels.configure()
        case = visible_case(case)
        out = select_period(case, period)
        if out.sizes["time"] == 0:
            raise MethodError(f"{self.name}: the period {period} selects no day of the case")
        values = np.asarray(self._predict(case, out), dtype=np.float32)
        return self._finalize(out, values)

    def save(self, path: str | Path) -> Path:
        """Write what was learned (methods with ``supports_checkpoint``)."""
        raise MethodError(f"{self.name}: this method has no checkpoints")

    def combines(self) -> tuple[str, ...]:
        """Names of other methods whose products this one is built from; a run that has made them hands
        them over (:meth:`given_products`) so they are not recomputed. Default: none."""
        return ()

    def given_products(self, products: dict[str, xr.DataArray], case: xr.Dataset) -> None:
        """Products of the methods :meth:`combines` names, made on ``case``; used only by a
        :meth:`predict` on that same case (its usable-SMAP mask and days), else recomputed."""
        self._given = {n: products[n] for n in self.combines() if n in products}
        self._given_key = smap_key(case)

    def companions(self) -> dict[str, xr.DataArray]:
        """Further products of the last :meth:`predict`, named ``NAME:TAG`` (e.g. another product mode,
        ensemble members), scored beside the product; default: none."""
        return {}

    def ancillary(self) -> dict[str, xr.DataArray]:
        """CF ancillary variables of the last :meth:`predict`'s product (e.g. ``sm_spread``), written
        into its file; default: none."""
        return {}

    # -- hooks -----------------------------------------------------------------------------------
    def _fit_case(self, case: xr.Dataset, train: xr.Dataset, period: Period, progress: bool) -> None:
        """Fit hook with the whole (truth-free) case; default: :meth:`_fit` on the training days."""
        self._fit(train)

    def _fit(self, train: xr.Dataset) -> None:  # noqa: B027 - optional hook
        """Default: nothing to learn."""

    @abstractmethod
    def _predict(self, case: xr.Dataset, out: xr.Dataset) -> np.ndarray:
        """Return a (time, y, x) array for the days of ``out`` (a subset of ``case``)."""

    # -- helpers ---------------------------------------------------------------------------------
    def _passes(self, out: xr.Dataset) -> np.ndarray:
        """Where the product passes usable SMAP through (every usable SMAP value)."""
        return valid_smap(out).values

    def _finalize(self, out: xr.Dataset, values: np.ndarray, passthrough: bool | None = None, **attrs) -> xr.DataArray:
        """The product: SMAP passed through (``passthrough``, default the config's), ocean NaN, values
        clamped to the physical range, CF attributes (``attrs`` added)."""
        land = out["land"].values.astype(bool)
        if self.config.passthrough if passthrough is None else passthrough:
            values = np.where(self._passes(out), out["smap"].values, values)
        values = np.where(land[None], values, np.nan).astype(np.float32)
        if self.kind != "observation":
            unfilled = int((~np.isfinite(values[:, land])).sum())
            if unfilled:
                raise MethodError(
                    f"{self.name}: {unfilled} of {values[:, land].size} land cell-days left unfilled (not finite); "
                    "a gap-filled product must have a value on every land cell and day"
                )
        values, low, high = clamp_physical(values)
        if low or high:
            log.warning("%s: %d value(s) below 0 and %d above %g m3 m-3 clamped", self.name, low, high, SM_MAX)
        self.fit_info["clamped_values"] = self.fit_info.get("clamped_values", 0) + low + high
        attrs = {**self.product_attrs(), **attrs, "clamped_below_0": low, "clamped_above_max": high}
        if passthrough is not None:
            attrs["smap_passthrough"] = int(passthrough)
        da = xr.DataArray(
            values,
            dims=("time", "y", "x"),
            coords={k: out.coords[k] for k in ("time", "y", "x", "row", "col", "lat", "lon")},
            name="sm",
            attrs=attrs,
        )
        return da

    def product_attrs(self) -> dict:
        """CF attributes of this method's product variable ``sm``."""
        return sm_attrs(
            f"soil moisture product of method '{self.name}'",
            method=self.name,
            base_method=self.name,
            ablation_of=self.ablation_of,
            centrepiece=int(self.centrepiece),
            method_kind=self.kind,
            method_config=json.dumps(dataclasses.asdict(self.config), default=str),
            smap_passthrough=int(bool(self.config.passthrough)),
            kernels=kernels.describe(),
        )


def smap_key(case: xr.Dataset) -> str:
    """A short hash of a case's days and usable-SMAP mask: tells a case from its thinned copy."""
    h = hashlib.sha256(np.asarray(case.indexes["time"].values, dtype="datetime64[D]").tobytes())
    h.update(np.packbits(valid_smap(case).values).tobytes())
    return h.hexdigest()[:16]


_REGISTRY: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    """Class decorator adding a method to the registry under ``cls.name``; checks the declarations
    the workflows rely on (``order``, ``kind``, ``halo_days``, a dataclass ``Config``)."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"method name '{cls.name}' registered twice")
    if not isinstance(getattr(cls, "order", None), int):
        raise TypeError(f"method '{cls.name}' must declare an integer 'order'")
    if cls.kind not in KINDS:
        raise TypeError(f"method '{cls.name}': kind {cls.kind!r} is not one of {KINDS}")
    if getattr(cls.halo_days, "__isabstractmethod__", False):
        raise TypeError(f"method '{cls.name}' must declare 'halo_days'")
    if not dataclasses.is_dataclass(cls.Config):
        raise TypeError(f"method '{cls.name}': Config must be a dataclass")
    _REGISTRY[cls.name] = cls
    return cls


def list_methods() -> list[str]:
    """Registered method names in display order (``order``, then name)."""
    return sorted(_REGISTRY, key=lambda n: (_REGISTRY[n].order, n))


def default_methods() -> list[str]:
    """The methods ``demo`` and ``run`` fit when no list is given: every registered method except those
    that opt out (the ablations), in display order."""
    return [n for n in list_methods() if _REGISTRY[n].in_default_runs]


def method_class(name: str) -> type[Method]:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown method '{name}' (valid: {', '.join(_REGISTRY)})")
    return _REGISTRY[name]


def method_description(name: str) -> str:
    return method_class(name).description


def get_method(name: str, **config) -> Method:
    """Instantiate a registered method; unknown config keys are rejected with the valid ones listed."""
    cls = method_class(name)
    where = f"method '{name}' config"
    values = cls.typed_overrides(config, where)  # types and unknown keys, by the fields' annotations
    try:
        cfg = cls.make_config(**values)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return cls(cfg)


def load_method_config(path: str | Path, default_method: str | None = None) -> tuple[str, dict]:
    """Read and check a method config TOML: a path, or a name in ``./baselines/`` or the packaged method
    configs (``starfm``: :mod:`stsg_bench.resources`). ``method = "NAME"`` plus a ``[config]`` table,
    nothing else. Every error names the file and the key."""
    found = resources.find("baselines", path)
    if found is None and not Path(path).exists() and not Path(path).suffix:
        known = ", ".join(resources.names("baselines"))
        raise ConfigError(f"no method config file or packaged method config named '{path}' (packaged: {known})")
    path = found or Path(path)
    data = read_toml(path, "config file")
    for key in data:
        if key not in ("method", "config"):
            where = " (method settings go in the [config] table)" if key in _all_config_keys() else ""
            raise InputError(path, f"unknown top-level key '{key}'{closest(key, ('method', 'config'))}{where}", key)
    name = data.get("method", default_method)
    if name is None:
        raise InputError(path, "config needs a top-level 'method = \"NAME\"'", "method")
    if not isinstance(name, str) or name not in _REGISTRY:
        raise InputError(path, f"unknown method {name!r}{closest(str(name), _REGISTRY)}", "method")
    config = data.get("config", {})
    if not isinstance(config, dict):
        raise InputError(path, "expected a [config] table of key = value", "config")
    try:
        get_method(name, **config)  # validated here, at the edge, so the error names this file
    except ConfigError as err:
        raise InputError(path, str(err), "config") from None
    return name, dict(config)


def _all_config_keys() -> set[str]:
    return {f.name for cls in _REGISTRY.values() for f in dataclasses.fields(cls.Config)}
