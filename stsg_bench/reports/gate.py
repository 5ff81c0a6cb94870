"""Accuracy gate: compare a results file with a committed reference (``stsg_bench/resources/reference``).

A metric is *worse* when it moves in its bad direction by more than its tolerance: |bias| up, R down,
RMSE/ubRMSE up. Every (method, reference, split) of the reference's ``pooled`` group is checked; a
method missing from the new results fails the gate. Improvements beyond the tolerance are reported so
the reference can be refreshed (``stsg-bench check ... --update``).

Tolerances are per check: ``spread_factor`` x the measured spread of that quantity (``spread.nc``
beside the reference: the largest change over reruns with other training seeds and other CPU kernels,
``benchmarks/gate_tolerances.py``), never below the metric's floor in ``tolerances.toml`` (the smallest
change that counts, and the tolerance of quantities no rerun moved, such as deterministic baselines).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .. import resources
from ..configs import load, located
from ..errors import ConfigError, InputError
from ..files import copy_atomic, output_lock, read_toml
from ..provenance import from_attr
from ..validation.metrics import METRICS
from ..validation.score import open_results
from .tables import whole_period


def default_tolerances() -> dict[str, float]:
    """Each registered metric's default tolerance, declared with the metric (:attr:`Metric.tolerance`)."""
    return {name: float(m.tolerance) for name, m in METRICS.items()}


@dataclass
class GateResult:
    table: pd.DataFrame
    failed: bool
    improved: bool


#: default multiple of the measured spread a check may move (tolerances.toml ``spread_factor``)
SPREAD_FACTOR = 1.5


@dataclass
class ToleranceFile:
    """``tolerances.toml``: per-metric floors (m3 m-3 or the metric's unit) and the spread factor."""

    tolerances: dict[str, float] = field(default_factory=dict)
    spread_factor: float = SPREAD_FACTOR


@dataclass
class Tolerances:
    """Per-metric floors, and per-check spreads (method, reference, split, metric) with their factor."""

    floor: dict[str, float]
    spread: xr.DataArray | None = None
    factor: float = SPREAD_FACTOR

    def __getitem__(self, metric: str) -> float:
        return self.floor[metric]

    def of(self, method: str, reference: str, split: str, metric: str) -> float:
        tol = self.floor[metric]
        sp = self.spread
        if sp is not None and method in sp.indexes["product"] and reference in sp.indexes["reference"]:
            if split in sp.indexes["split"] and metric in sp.indexes["metric"]:
                v = float(sp.sel({"product": method}).sel(reference=reference, split=split, metric=metric))
                if not np.isnan(v):  # inf: a rerun made the quantity undefined, so it cannot be gated
                    tol = max(tol, self.factor * v)
        return tol


def load_tolerances(path: Path | None, spread_path: Path | None = None) -> Tolerances:
    """Floors from ``path`` (``[tolerances]``, plus an optional top-level ``spread_factor``) over the
    metrics' declared defaults, and the measured spread from ``spread_path`` when it exists."""
    tol = Tolerances(default_tolerances())
    if path is not None and Path(path).exists():
        try:
            given = load(ToleranceFile, read_toml(path, "tolerance file"), "tolerance file")
        except ConfigError as err:
            key, problem = located(err, "tolerance file")
            raise InputError(path, problem, key) from None
        unknown = sorted(set(given.tolerances) - set(METRICS))
        if unknown:
            raise InputError(path, f"unknown metric(s) {', '.join(unknown)}", "tolerances")
        for key, value in {**given.tolerances, "spread_factor": given.spread_factor}.items():
            if value < 0:
                raise InputError(path, f"expected a finite number >= 0, got {value!r}", key)
        tol.floor.update(given.tolerances)
        tol.factor = given.spread_factor
    if spread_path is not None and Path(spread_path).exists():
        from ..files import open_netcdf

        ds = open_netcdf(spread_path, "gate spread file").load()
        if "method" in ds.dims and "product" not in ds.dims:  # written before results version 3
            ds = ds.rename({"method": "product"})
        if "spread" not in ds or set(ds["spread"].dims) != {"product", "reference", "split", "metric"}:
            raise InputError(spread_path, "expected variable spread(method, reference, split, metric)", "spread")
        values = ds["spread"].values
        if not np.issubdtype(values.dtype, np.floating) or bool((values[~np.isnan(values)] < 0).any()):
            raise InputError(spread_path, "spreads must be numbers >= 0 (NaN: not measured, inf: undefined)", "spread")
        tol.spread = ds["spread"]
    return tol


def _badness(metric: str, value: float) -> float:
    """Larger is worse."""
    better = METRICS[metric].better
    if better in ("zero", "one"):
        return abs(value - (better == "one"))
    return -value if better == "higher" else value


def compare(new: xr.Dataset, ref: xr.Dataset, tolerances: dict[str, float] | Tolerances) -> GateResult:
    """Pooled scores of every product, reference, split and metric of ``ref`` over the whole period
    (window ``all``; seasons are reported, not gated)."""
    new, ref = whole_period(new), whole_period(ref)
    tols = tolerances if isinstance(tolerances, Tolerances) else Tolerances(dict(tolerances))
    rows = []
    new_methods = {str(m) for m in new["product"].values}
    for m in ref["product"].values:
        m = str(m)
        for r in ref["reference"].values:
            for sp in ref["split"].values:
                nref = int(ref["n"].sel({"product": m}).sel(reference=r, group="pooled", split=sp))
                if nref == 0:
                    continue
                for k in ref["metric"].values:
                    k = str(k)
                    rv = float(ref["value"].sel({"product": m}).sel(reference=r, group="pooled", split=sp, metric=k))
                    if not np.isfinite(rv):
                        continue
                    tol = tols.of(m, str(r), str(sp), k)
                    if m not in new_methods or r not in new["reference"].values or sp not in new["split"].values:
                        rows.append((m, str(r), str(sp), k, rv, np.nan, np.nan, tol, "MISSING"))
                        continue
                    nv = float(new["value"].sel({"product": m}).sel(reference=r, group="pooled", split=sp, metric=k))
                    delta = _badness(k, nv) - _badness(k, rv) if np.isfinite(nv) else np.inf
                    status = "WORSE" if delta > tol else ("better" if delta < -tol else "ok")
                    rows.append((m, str(r), str(sp), k, rv, nv, nv - rv, tol, status))
    df = pd.DataFrame(
        rows,
        columns=[
            "product",
            "reference",
            "split",
            "metric",
            "reference_value",
            "new_value",
            "change",
            "tolerance",
            "status",
        ],
    )
    return GateResult(df, bool(df["status"].isin(["WORSE", "MISSING"]).any()), bool((df["status"] == "better").any()))


def check_comparable(results: Path, new: xr.Dataset, ref: xr.Dataset) -> None:
    """Refuse results of another case or run config than the reference's (one-line error naming the
    results file); say so when the CPU kernels differ (fast-kernel numbers move with the machine)."""
    fp_new, fp_ref = new.attrs.get("case_fingerprint"), ref.attrs.get("case_fingerprint")
    if fp_new and fp_ref and fp_new != fp_ref:
        raise InputError(
            results,
            f"scored on another case than the reference (case fingerprint {fp_new}, reference {fp_ref})",
            "case_fingerprint",
        )
    prov_new, prov_ref = from_attr(new.attrs.get("provenance")), from_attr(ref.attrs.get("provenance"))
    sha_new = prov_new.get("run_config", {}).get("protocol_sha256")
    sha_ref = prov_ref.get("run_config", {}).get("protocol_sha256")
    if sha_new and sha_ref and sha_new != sha_ref:
        raise InputError(
            results,
            f"made with another run protocol (case, periods, references or matching) than the reference "
            f"({prov_new['run_config'].get('path')} against {prov_ref['run_config'].get('path')})",
            "provenance",
        )
    k_new = str(prov_new.get("software", {}).get("kernels", "")).split(",")[0]
    k_ref = str(prov_ref.get("software", {}).get("kernels", "")).split(",")[0]
    if k_new and k_ref and k_new != k_ref:
        print(f"note: the reference was computed with {k_ref} kernels, these results with {k_new} kernels")


def check_command(
    results: Path, reference: Path | None = None, tolerance_file: Path | None = None, update: bool = False
) -> int:
    """``stsg-bench check``: results against a reference folder (default: the packaged gate reference,
    :mod:`stsg_bench.resources`), or ``--update`` it."""
    reference = Path(reference) if reference is not None else resources.folder("reference")
    ref_file = reference / "results.nc" if reference.is_dir() or not reference.suffix else reference
    if update:
        new = open_results(results)  # validate before copying
        if Path(results).resolve() == ref_file.resolve():
            raise InputError(results, "is the reference itself: nothing to update")
        with output_lock(ref_file):
            copy_atomic(results, ref_file)  # the old reference stays whole if the copy fails
        print(f"reference updated: {ref_file} ({new.sizes['product']} methods)")
        return 0
    if tolerance_file is not None and not Path(tolerance_file).is_file():
        raise InputError(tolerance_file, "no such tolerance file (omit --tolerances for REFERENCE/tolerances.toml)")
    new, ref = open_results(results), open_results(ref_file)
    scored = whole_period(ref)["n"].sel(group="pooled")
    if not bool((scored > 0).any()):
        raise InputError(ref_file, "the reference holds no scored sample (every n is 0): nothing to compare", "n")
    check_comparable(results, new, ref)
    tol = load_tolerances(tolerance_file or reference / "tolerances.toml", ref_file.parent / "spread.nc")
    res = compare(new, ref, tol)
    shown = res.table[res.table["status"] != "ok"] if (res.failed or res.improved) else res.table
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    n = len(res.table)
    if res.failed:
        bad = int(res.table["status"].isin(["WORSE", "MISSING"]).sum())
        print(f"\nGATE FAILED: {bad} of {n} checks worse than the reference beyond tolerance")
        return 1
    if res.improved:
        print(
            "\ngate passed; some metrics are better than the reference: refresh it with\n"
            f"  stsg-bench check {results} --reference {reference} --update"
        )
    else:
        print(f"\ngate passed: {n} checks within tolerance")
    return 0
