"""Results in QA4SM's layout, so ``qa4sm-reader`` (and the people who use it) can read and plot them.

QA4SM (the ESA/TU Wien validation service) writes one netCDF per validation run: a ``loc`` dimension of
locations (here: the scored ISMN sensors), a ``tsw`` dimension of temporal sub-windows (``bulk`` = the
whole period, then seasons or custom windows), and one variable per metric and dataset pair,
``{METRIC}_between_0-{REFERENCE}_and_{i}-{DATASET}`` with ``{METRIC}_ci_lower_…`` / ``_ci_upper_…``
beside it, described by ``val_*`` global attributes (``val_dc_dataset{i}``, ``val_ref``, …). The layout
followed is that of the real QA4SM result files in qa4sm-reader's test data.

What maps to what (:data:`METRIC_NAMES`): our per-station scores (results groups ``station:KEY``, split
``all``) of the in-situ reference — by default the same-sample one (``insitu_same``), so ``n_obs`` is one
number per location and window, as in QA4SM — become the pairwise variables; ``bias`` keeps this suite's
sign (product − in-situ, stated in each BIAS variable's ``comment``). Triple collocation and p-values have
no per-station counterpart here and are not exported.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import StsgError

#: our metric -> QA4SM's name for it
METRIC_NAMES = {
    "bias": "BIAS",
    "R": "R",
    "RMSE": "RMSD",
    "ubRMSE": "urmsd",
    "MSE": "mse",
    "MSE_corr": "mse_corr",
    "MSE_var": "mse_var",
    "MSE_bias": "mse_bias",
    "rho": "rho",
    "tau": "tau",
}
REFERENCE_NAME = "ISMN"
BULK = "bulk"
SEASONS = ("DJF", "MAM", "JJA", "SON")


def _short_name(name: str, taken: set[str]) -> str:
    """A dataset name QA4SM's ``{i}-{name}`` pattern parses: letters, digits and underscores."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", name) or "product"
    short, k = base, 1
    while short in taken:
        k += 1
        short = f"{base}_{k}"
    taken.add(short)
    return short


def _sensor_depths(key: str) -> tuple[str, str, float, float]:
    """``NETWORK/STATION/SENSOR_FROM_TO`` -> (station, sensor, depth from, depth to)."""
    parts = key.split("/")
    station = parts[1] if len(parts) > 1 else key
    sensor, dfrom, dto = (parts[-1].rsplit("_", 2) + ["", ""])[:3]
    try:
        return station, sensor, float(dfrom), float(dto)
    except ValueError:
        return station, parts[-1], np.nan, np.nan


def _pick_reference(res: xr.Dataset, reference: str | None) -> str:
    refs = [str(r) for r in res["reference"].values]
    if reference is None:
        reference = "insitu_same" if "insitu_same" in refs else "insitu"
    if reference not in refs:
        raise StsgError(f"--reference {reference}: the results hold {', '.join(refs)}")
    return reference


def to_qa4sm(
    res: xr.Dataset, reference: str | None = None, products: list[str] | None = None
) -> tuple[xr.Dataset, list[str]]:
    """The in-situ scores of ``res`` (a results cube) in QA4SM's layout, and notes on what was left out."""
    reference = _pick_reference(res, reference)
    if "window" not in res.dims:  # results scored on the whole period only
        res = res.expand_dims(window=["all"])
    names = [str(p) for p in res["product"].values]
    if products:
        unknown = [p for p in products if p not in names]
        if unknown:
            raise StsgError(f"--products {' '.join(unknown)}: not in the results (they hold {', '.join(names)})")
        names = list(products)
    groups = [str(g) for g in res["group"].values if str(g).startswith("station:")]
    if not groups:
        raise StsgError("the results hold no per-station scores (groups station:KEY): nothing to export")
    sel = res.sel(reference=reference, split="all", group=groups, product=names)
    windows = [str(w) for w in res["window"].values] if "window" in res.dims else ["all"]
    tsw = [BULK if w == "all" else w for w in windows]
    keys = [g.split(":", 1)[1] for g in groups]
    stations = {str(s): i for i, s in enumerate(res["station"].values)} if "station" in res.coords else {}
    notes: list[str] = []

    def loc_values(var: str, default) -> np.ndarray:
        if var not in res.coords and var not in res:
            return np.array([default] * len(keys))
        vals = res[var].values
        return np.array([vals[stations[k]] if k in stations else default for k in keys])

    meta = [_sensor_depths(k) for k in keys]
    data: dict[str, tuple] = {
        "network": ("loc", loc_values("station_network", ""), {"long_name": "ISMN network"}),
        "station": ("loc", np.array([m[0] for m in meta]), {"long_name": "ISMN station"}),
        "instrument": ("loc", np.array([m[1] for m in meta]), {"long_name": "ISMN sensor"}),
        "instrument_depthfrom": ("loc", np.array([m[2] for m in meta], np.float32), _depth("upper")),
        "instrument_depthto": ("loc", np.array([m[3] for m in meta], np.float32), _depth("lower")),
        "gpi": ("loc", np.arange(len(keys), dtype=np.int32), {"long_name": "location index"}),
    }
    n = sel["n"].transpose("product", "group", ...).values.reshape(len(names), len(keys), len(windows))
    if not (n == n[:1]).all():
        notes.append(f"n_obs differs between products on reference '{reference}': the largest is given")
    data["n_obs"] = (("loc", "tsw"), n.max(axis=0).astype(np.int32), {"long_name": "# observations", "units": "1"})
    taken: set[str] = {REFERENCE_NAME}
    attrs = _global_attrs(res, reference, keys)
    for i, name in enumerate(names, start=1):
        short = _short_name(name, taken)
        attrs.update(_dataset_attrs(i, short, name, res))
        pair = f"_between_0-{REFERENCE_NAME}_and_{i}-{short}"
        for ours, theirs in METRIC_NAMES.items():
            if ours not in res["metric"].values:
                continue
            cube = sel.sel(product=name, metric=ours)
            unit = str(res["metric_units"].sel(metric=ours).values) if "metric_units" in res.coords else "1"
            extra = {"comment": "product minus in-situ"} if ours == "bias" else {}
            for var, label in (("value", ""), ("ci_lower", "_ci_lower"), ("ci_upper", "_ci_upper")):
                values = cube[var].transpose("group", ...).values.reshape(len(keys), len(windows))
                long_name = f"{theirs}{label.replace('_', ' ')} of {name} against {REFERENCE_NAME}"
                data[f"{theirs}{label}{pair}"] = (
                    ("loc", "tsw"),
                    values.astype(np.float32),
                    {"long_name": long_name, "units": unit, **extra},
                )
    out = xr.Dataset(
        data,
        coords={
            "lon": ("loc", loc_values("station_lon", np.nan).astype(np.float64), _lonlat("longitude")),
            "lat": ("loc", loc_values("station_lat", np.nan).astype(np.float64), _lonlat("latitude")),
            "idx": ("loc", np.arange(len(keys), dtype=np.int32), {"long_name": "observation point index"}),
            "tsw": ("tsw", tsw, _tsw_attrs(res, windows)),
        },
        attrs=attrs,
    )
    return out, notes


def _depth(which: str) -> dict:
    return {"long_name": f"{which} sensor depth below the surface", "units": "m", "positive": "down"}


def _lonlat(axis: str) -> dict:
    units = "degrees_east" if axis == "longitude" else "degrees_north"
    return {"long_name": f"location {axis}", "standard_name": axis, "units": units}


def _tsw_attrs(res: xr.Dataset, windows: list[str]) -> dict:
    described = {}
    if "window_description" in res.coords:
        described = dict(zip(windows, (str(d) for d in res["window_description"].values)))
    kind = "seasons" if set(windows) - {"all"} == set(SEASONS) else "custom" if len(windows) > 1 else "bulk"
    return {
        "long_name": "temporal sub-window",
        "description": "temporal sub-window name for the dataset",
        "temporal_sub_window_type": kind,
        "intra_annual_window_definition": ", ".join(f"{w}: {described.get(w, w)}" for w in windows if w != "all"),
        BULK: f"the whole scored period ({res.attrs.get('test_period', 'unknown')})",
    }


def _global_attrs(res: xr.Dataset, reference: str, keys: list[str]) -> dict:
    start, _, end = str(res.attrs.get("test_period", "")).partition("/")
    lat = np.asarray(res["station_lat"].values, float) if "station_lat" in res.coords else np.array([np.nan])
    lon = np.asarray(res["station_lon"].values, float) if "station_lon" in res.coords else np.array([np.nan])
    return {
        "Conventions": "CF-1.8",
        "title": "stsg-bench validation results in QA4SM's layout",
        "source_software": str(res.attrs.get("source_software", "stsg-bench")),
        "date_created": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M:%S"),
        "val_interval_from": f"{start} 00:00" if start else "",
        "val_interval_to": f"{end} 23:59" if end else "",
        "val_ref": "val_dc_dataset0",
        "val_scaling_ref": "val_dc_dataset0",
        "val_scaling_method": "none",
        "val_anomalies": "none",
        "val_spatial_subset": str([np.nanmin(lat), np.nanmin(lon), np.nanmax(lat), np.nanmax(lon)]),
        "val_dc_dataset0": REFERENCE_NAME,
        "val_dc_version0": str(res.attrs.get("case", "in-situ")),
        "val_dc_variable0": "soil_moisture",
        "val_dc_dataset_pretty_name0": REFERENCE_NAME,
        "val_dc_version_pretty_name0": f"stations scored by stsg-bench ({reference})",
        "val_dc_variable_pretty_name0": "soil_moisture",
        "val_dc_unit0": "m³/m³",
        "stsg_bench_reference": reference,
        "stsg_bench_locations": len(keys),
    }


def _dataset_attrs(i: int, short: str, name: str, res: xr.Dataset) -> dict:
    kind = ""
    if "method_kind" in res.coords:
        kind = str(res["method_kind"].sel(product=name).values)
    return {
        f"val_dc_dataset{i}": short,
        f"val_dc_version{i}": str(res.attrs.get("source_software", "stsg-bench")).replace(" ", "_"),
        f"val_dc_variable{i}": "sm",
        f"val_dc_dataset_pretty_name{i}": name,
        f"val_dc_version_pretty_name{i}": kind or "product",
        f"val_dc_variable_pretty_name{i}": "sm",
        f"val_dc_unit{i}": "m³/m³",
        f"val_dc_filters{i}": "none",
    }


def export_qa4sm(results_path, out, reference: str | None = None, products: list[str] | None = None) -> list[str]:
    """``stsg-bench export --format qa4sm``: read a results file, write it in QA4SM's layout to ``out``
    (CF-1.8, atomically). Returns the notes."""
    from ..files import write_netcdf_atomic
    from ..validation import open_results

    ds, notes = to_qa4sm(open_results(results_path), reference, products)
    write_netcdf_atomic(ds, out, encoding={str(v): {"zlib": True, "complevel": 1} for v in ds.data_vars})
    return notes
