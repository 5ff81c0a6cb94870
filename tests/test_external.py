"""External products (ESA CCI SM, ERA5-Land, ...) imported onto a case's cells: the bucket mean against an
independent loop, the layouts products come in (one file, daily files, 0..360 longitudes, north-to-south
latitudes, sub-daily stamps), bad inputs through the CLI, and on the real Hawai'i files an independent
numpy score at SCAN/SilverSword."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from stsg_bench.case import save_case
from stsg_bench.cli import main
from stsg_bench.errors import InputError
from stsg_bench.io.external import import_external

# -- a regular lat/lon product over the tiny twin's window --------------------------------------------


def latlon_product(case: xr.Dataset, step: float = 0.1, units: str | None = "m3 m-3", seed: int = 0) -> xr.Dataset:
    """A daily CF product on a ``step`` degree grid covering the case's cells, with gaps."""
    rng = np.random.default_rng(seed)
    lat = np.arange(np.floor(float(case.lat.min())) - 1, float(case.lat.max()) + 1, step) + step / 2
    lon = np.arange(np.floor(float(case.lon.min())) - 1, float(case.lon.max()) + 1, step) + step / 2
    time = pd.DatetimeIndex(case["time"].values)
    v = 0.1 + 0.3 * rng.random((time.size, lat.size, lon.size))
    v[rng.random(v.shape) < 0.2] = np.nan  # scattered gaps
    v[5] = np.nan  # a day without any value
    attrs = {"standard_name": "volume_fraction_of_condensed_water_in_soil", "long_name": "soil moisture"}
    if units is not None:
        attrs["units"] = units
    ds = xr.Dataset(
        {"sm": (("time", "lat", "lon"), v.astype(np.float32), attrs)},
        coords={
            "time": time,
            "lat": ("lat", lat, {"standard_name": "latitude", "units": "degrees_north"}),
            "lon": ("lon", lon, {"standard_name": "longitude", "units": "degrees_east"}),
        },
        attrs={"Conventions": "CF-1.8", "title": "test product"},
    )
    return ds


def ease_cell(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Global EASE-Grid 2.0 M36 (row, col) from pyproj and NSIDC's grid constants (not the package's)."""
    import pyproj

    to_ease = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:6933", always_xy=True)
    size, x0, y0 = 36032.220840584, -17367530.44, 7314540.83
    x, y = to_ease.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.floor((y0 - y) / size).astype(int), np.floor((x - x0) / size).astype(int)


def bucket_mean_loop(src: xr.Dataset, case: xr.Dataset) -> np.ndarray:
    """The expected product, by an explicit loop over source cells: cos(lat)-weighted mean of the finite
    values whose centres fall in each case cell (EASE2 cells found with pyproj directly)."""
    lon2, lat2 = np.meshgrid(src["lon"].values, src["lat"].values)
    row, col = ease_cell(lon2, lat2)
    rows, cols = case["row"].values, case["col"].values
    t, ny, nx = case.sizes["time"], rows.size, cols.size
    num, den = np.zeros((t, ny, nx)), np.zeros((t, ny, nx))
    v = src["sm"].values.astype(np.float64)
    for i in range(lat2.shape[0]):
        for j in range(lat2.shape[1]):
            iy, ix = row[i, j] - rows[0], col[i, j] - cols[0]
            if 0 <= iy < ny and 0 <= ix < nx:
                w = np.cos(np.deg2rad(lat2[i, j]))
                ok = np.isfinite(v[:, i, j])
                num[ok, iy, ix] += w * v[ok, i, j]
                den[ok, iy, ix] += w
    with np.errstate(invalid="ignore"):
        out = np.where(den > 0, num / den, np.nan)
    return np.where(case["land"].values[None], out, np.nan)


@pytest.fixture(scope="module")
def tiny(tiny_case, tmp_path_factory):
    folder = tmp_path_factory.mktemp("external")
    save_case(tiny_case, folder / "case.nc")
    src = latlon_product(tiny_case)
    src.to_netcdf(folder / "product.nc")
    return folder, src


def test_bucket_mean_equals_an_independent_loop(tiny, tiny_case):
    _, src = tiny
    ext = import_external(tiny[0] / "product.nc", tiny_case, "p")
    expected = bucket_mean_loop(src, tiny_case)
    np.testing.assert_allclose(ext.sm.values, expected, rtol=0, atol=1e-6, equal_nan=True)
    assert np.isnan(ext.sm.values[5]).all()  # a day without values stays a gap
    assert ext.sm.attrs["method_kind"] == "external" and ext.sm.attrs["units"] == "m3 m-3"
    assert np.isnan(ext.sm.values[:, ~tiny_case["land"].values]).all()


def test_layouts_give_the_same_product(tiny, tiny_case, tmp_path):
    folder, src = tiny
    ref = import_external(folder / "product.nc", tiny_case, "p").sm.values
    daily = tmp_path / "daily"
    daily.mkdir()
    for k in range(src.sizes["time"]):  # one file per day, as ESA CCI SM is distributed
        day = src.isel(time=slice(k, k + 1))
        day.to_netcdf(daily / f"PRODUCT-{pd.Timestamp(day.time.values[0]):%Y%m%d}.nc")
    np.testing.assert_array_equal(import_external(daily, tiny_case, "p").sm.values, ref)
    flipped = src.isel(lat=slice(None, None, -1)).assign_coords(lon=src["lon"] % 360)  # N->S, 0..360
    flipped.to_netcdf(tmp_path / "flipped.nc")
    np.testing.assert_allclose(import_external(tmp_path / "flipped.nc", tiny_case, "p").sm.values, ref, atol=1e-6)
    # two stamps a day (06 and 18 UTC) with the same values: the daily mean is the same product
    twice = xr.concat([src.assign_coords(time=src.time + np.timedelta64(h, "h")) for h in (6, 18)], dim="time").sortby(
        "time"
    )
    twice.to_netcdf(tmp_path / "twice.nc")
    ext = import_external(tmp_path / "twice.nc", tiny_case, "p")
    np.testing.assert_allclose(ext.sm.values, ref, atol=1e-6)
    assert any("several time stamps" in n for n in ext.notes)
    # a product covering half the case's days: the rest are gaps, reported
    src.isel(time=slice(0, 60)).to_netcdf(tmp_path / "half.nc")
    ext = import_external(tmp_path / "half.nc", tiny_case, "p")
    assert np.isnan(ext.sm.values[60:]).all() and any("missing from the source" in n for n in ext.notes)


def _cli_error(capsys, args: list[str], *words: str) -> None:
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    for w in words:
        assert w in err, err


def test_bad_external_products_are_one_line_errors(tiny, tiny_case, tmp_path, capsys):
    folder, src = tiny
    case = folder / "case.nc"
    out = tmp_path / "p.nc"
    bad = tmp_path / "bad.nc"

    def attempt(ds: xr.Dataset, *words: str, extra: tuple[str, ...] = ()) -> None:
        ds.to_netcdf(bad)
        _cli_error(capsys, ["product", "import", bad, "--case", case, "--out", out, *extra], str(bad), *words)
        assert not out.exists() and not list(tmp_path.glob(".p.nc*"))  # nothing half-written

    attempt(src.rename({"lat": "a", "lon": "b"}).drop_vars(["a", "b"]), "no latitude/longitude")
    pct = src.copy()
    pct["sm"] = pct["sm"] * 100
    pct["sm"].attrs.update(units="percent saturation")
    attempt(pct, "[sm]", "relative to saturation", "porosity")
    pct["sm"].attrs.pop("units")
    attempt(pct, "[sm]", "outside [0, 1]", "percent?")
    attempt(src.assign({"sm": src["sm"].assign_attrs(units="kg m-2")}), "[sm]", "kg m-2", "depth")
    attempt(src.assign({"sm": src["sm"].assign_attrs(units="K")}), "[sm]", "units 'K'")
    small = src.sel(lat=slice(None, float(tiny_case.lat.mean())))  # covers only the south of the case
    attempt(small, "does not cover", "land cells")
    attempt(src.assign_coords(time=src.time + np.timedelta64(3650, "D")), "shares no day")
    attempt(src, "[soil]", "variable missing", extra=("--variable", "soil"))
    two = src.rename({"sm": "sm_am"}).assign(sm_pm=src["sm"])  # no 'sm': the user must choose
    attempt(two, "several soil-moisture variables", "--variable")
    _cli_error(capsys, ["product", "import", tmp_path / "nowhere.nc", "--case", case, "--out", out], "nowhere.nc")
    # the output never replaces an input
    _cli_error(
        capsys, ["product", "import", folder / "product.nc", "--case", case, "--out", case, "--overwrite"], "case.nc"
    )


def test_import_then_score_and_report_like_a_method(tiny, tiny_twin, tmp_path, capsys):
    folder, _ = tiny
    case = folder / "case.nc"
    prod = tmp_path / "ext.nc"
    assert main(["product", "import", str(folder / "product.nc"), "--case", str(case), "--out", str(prod)]) == 0
    assert main(["product", "import", str(folder / "product.nc"), "--case", str(case), "--out", str(prod)]) == 2
    assert "exists" in capsys.readouterr().err
    fused = tmp_path / "noah.nc"
    assert main(["fuse", "--method", "noah_raw", "--case", str(case), "--out", str(fused)]) == 0
    res = tmp_path / "r.nc"
    assert main(["score", "--case", str(case), "--products", str(prod), str(fused), "--out", str(res)]) == 0
    r = xr.open_dataset(res)
    assert list(r["method_kind"].values) == ["external", "model"]
    assert int(r["n"].sel({"product": "product"}).sel(reference="truth", group="pooled", split="all", window="all")) > 0
    assert main(["report", str(res), "--out", str(tmp_path / "rep")]) == 0
    assert "| product (external) |" in (tmp_path / "rep" / "tables" / "truth.md").read_text()


def test_card_and_run_config_external_entries(tmp_path):
    from stsg_bench.cards import parse_card
    from stsg_bench.workflows.chain import parse_run_config

    base = {"kind": "twin", "preset": "tiny"}
    card = parse_card({**base, "external": [{"name": "cci", "path": "x.nc", "variable": "sm"}]}, tmp_path / "c.toml")
    assert card.external[0].name == "cci" and card.external[0].variable == "sm"
    with pytest.raises(InputError, match=r"external\[0\].pth"):
        parse_card({**base, "external": [{"name": "a", "pth": "x.nc"}]}, tmp_path / "c.toml")
    with pytest.raises(InputError, match="given twice"):
        parse_card({**base, "external": [{"name": "a", "path": "x"}, {"name": "a", "path": "y"}]}, tmp_path / "c.toml")
    with pytest.raises(InputError, match=r"external\[0\].path"):
        parse_card({**base, "external": [{"name": "a"}]}, tmp_path / "c.toml")
    cfg = parse_run_config({"external": [{"name": "e", "path": "p.nc"}]}, tmp_path / "run.toml")
    assert cfg.external[0].path == "p.nc" and cfg.path == tmp_path / "run.toml"


def test_run_scores_external_products_beside_the_methods(tiny, tmp_path):
    from stsg_bench.workflows.chain import run_config

    folder, _ = tiny
    cfg = tmp_path / "run.toml"
    (tmp_path / "ext.nc").write_bytes((folder / "product.nc").read_bytes())
    cfg.write_text(
        'dataset = "twin-tiny"\nmethods = ["noah_raw"]\nsimulated_gaps = false\n'
        '[[external]]\nname = "lat_lon_product"\npath = "ext.nc"\n'
    )
    run_config(cfg, tmp_path / "out")
    r = xr.open_dataset(tmp_path / "out" / "results.nc")
    assert list(r["product"].values) == ["noah_raw", "lat_lon_product"]
    assert (tmp_path / "out" / "products" / "lat_lon_product.nc").exists()
    assert "lat_lon_product (external)" in (tmp_path / "out" / "report" / "tables" / "paper.md").read_text()
    (tmp_path / "run.toml").write_text(
        'dataset = "twin-tiny"\nmethods = ["noah_raw"]\n[[external]]\nname = "noah_raw"\npath = "ext.nc"\n'
    )
    with pytest.raises(Exception, match="already a method's name"):
        run_config(cfg, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


# -- the real Hawai'i products -------------------------------------------------------------------------


def _stm_daily(path: Path, min_hours: int = 12) -> pd.Series:
    """Daily mean of the 'G'-flagged hourly values of a CEOP separate-files .stm (own parser)."""
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    df = pd.DataFrame(
        {
            "time": pd.to_datetime([r[0] + " " + r[1] for r in rows], format="%Y/%m/%d %H:%M"),
            "sm": [float(r[12]) for r in rows],
            "flag": [r[13] for r in rows],
        }
    )
    df = df[(df["flag"] == "G") & np.isfinite(df["sm"])]
    g = df.groupby(df["time"].dt.floor("D"))["sm"]
    return g.mean()[g.count() >= min_hours]


@pytest.mark.realdata
def test_hawaii_gapfilled_scored_at_silversword_like_numpy(real_data, tmp_path):
    """ESA CCI SM GAPFILLED imported onto the Hawai'i case: the suite's pooled bias, R and ubRMSE at
    SCAN/SilverSword equal a numpy computation from the source file and the station file to 1e-9."""
    from stsg_bench.cards import build_bundle
    from stsg_bench.validation import evaluate, standard_references

    bundle = build_bundle("hawaii", data_root=real_data.parent)
    src_path = real_data / "hawaii" / "external" / "esa_cci_sm_gapfilled_v09.2_hawaii.nc"
    ext = import_external(src_path, bundle.case, "esa_cci_gapfilled", "sm")
    ev = evaluate(
        {"esa_cci_gapfilled": ext.sm},
        bundle.case,
        standard_references(bundle.case, bundle.insitu),
        bundle.card.validation,
    )
    group = next(g for g in ev.results["group"].values if str(g).startswith("station:SCAN/SilverSword"))
    suite = (
        ev.results["value"]
        .sel({"product": "esa_cci_gapfilled"})
        .sel(reference="insitu", group=group, split="all", window="all")
    )

    stm = next((real_data / "hawaii" / "ismn" / "SCAN" / "SilverSword").glob("*_sm_*.stm"))
    station = _stm_daily(stm)
    lat, lon = 19.767, -155.417  # the station header's coordinates
    src = xr.open_dataset(src_path)
    lon2, lat2 = np.meshgrid(src["lon"].values, src["lat"].values)
    row, col = ease_cell(lon2, lat2)
    target = ease_cell(lon, lat)
    inside = (row == target[0]) & (col == target[1])
    w = np.cos(np.deg2rad(lat2[inside]))
    v = src["sm"].values[:, inside].astype(np.float64)
    ok = np.isfinite(v)
    prod = (
        pd.Series(
            np.where(ok.any(1), (np.where(ok, v, 0) * w).sum(1) / (ok * w).sum(1), np.nan),
            index=pd.DatetimeIndex(src["time"].values).normalize(),
        )
        .astype(np.float32)
        .astype(np.float64)
    )  # the product file holds float32
    both = pd.concat([prod, station], axis=1, join="inner").dropna()
    p, r = both.iloc[:, 0].values, both.iloc[:, 1].values
    expected = {"bias": np.mean(p - r), "R": np.corrcoef(p, r)[0, 1], "ubRMSE": np.std(p - r)}
    assert len(both) > 300
    for metric, value in expected.items():
        assert abs(float(suite.sel(metric=metric)) - value) < 1e-9, (metric, float(suite.sel(metric=metric)), value)


def test_percent_and_water_amounts_are_converted(tiny, tmp_path):
    """Percent of volume (/ 100) and kg m-2 of a layer of stated depth (/ (1000 kg m-3 x depth)) import as
    the same volumetric product as the source in m3 m-3."""
    from stsg_bench.case import open_case

    folder, src = tiny
    case = open_case(folder / "case.nc")
    want = import_external_from(src, case, tmp_path / "v.nc")
    pct = src.assign(sm=(src["sm"] * 100).assign_attrs(units="%"))
    got = import_external_from(pct, case, tmp_path / "p.nc")
    np.testing.assert_allclose(got.sm.values, want.sm.values, rtol=1e-6, equal_nan=True)
    assert any("converted from '%'" in n for n in got.notes) and got.sm.attrs["source_units"] == "%"
    kg = src.assign(sm=(src["sm"] * 1000 * 0.07).assign_attrs(units="kg m-2"))  # a 0-7 cm layer
    kg.to_netcdf(tmp_path / "k.nc")
    got = import_external(tmp_path / "k.nc", case, "kg", layer_depth=0.07)
    np.testing.assert_allclose(got.sm.values, want.sm.values, rtol=1e-5, equal_nan=True)
    with pytest.raises(InputError, match="layer depth"):
        import_external(tmp_path / "k.nc", case, "kg", layer_depth=-1.0)


def import_external_from(ds: xr.Dataset, case: xr.Dataset, path):
    ds.to_netcdf(path)
    return import_external(path, case, "x")


# -- the formats products ship in: EASE-Grid 2.0 (36 and 9 km, y/x or row/col), Zarr, valid_time ---------
def _ease2_product(case: xr.Dataset, factor: int, seed: int = 3) -> tuple[xr.Dataset, np.ndarray]:
    """A product on EASE-Grid 2.0 at 36 km / ``factor`` over the case window (CF grid mapping EPSG:6933),
    and the 36 km cell means it should give (by an explicit block mean)."""
    from stsg_bench.grid import CELL, grid_mapping_attrs, rowcol_to_xy

    rng = np.random.default_rng(seed)
    rows, cols = case["row"].values, case["col"].values
    x0, _ = rowcol_to_xy(0, cols[0])
    _, y0 = rowcol_to_xy(rows[0], 0)
    step = CELL / factor
    x = x0 - CELL / 2 + (np.arange(cols.size * factor) + 0.5) * step
    y = y0 + CELL / 2 - (np.arange(rows.size * factor) + 0.5) * step
    t = pd.DatetimeIndex(case["time"].values)
    v = (0.1 + 0.3 * rng.random((t.size, y.size, x.size))).astype(np.float32)
    v[rng.random(v.shape) < 0.1] = np.nan
    blocks = v.reshape(t.size, rows.size, factor, cols.size, factor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks: NaN cells
        want = np.nanmean(blocks, axis=(2, 4))
    want = np.where(case["land"].values[None], want, np.nan)
    ds = xr.Dataset(
        {"sm": (("time", "y", "x"), v, {"units": "m3 m-3", "grid_mapping": "crs"}),
         "crs": ((), np.int32(0), grid_mapping_attrs())},
        coords={"time": t, "y": ("y", y, {"standard_name": "projection_y_coordinate", "units": "m"}),
                "x": ("x", x, {"standard_name": "projection_x_coordinate", "units": "m"})},
    )  # fmt: skip
    return ds, want


@pytest.mark.parametrize("factor", [1, 4])  # 36 km (one cell each) and 9 km (4 x 4 per 36 km cell)
def test_ease2_products_are_put_on_the_cells_directly(tiny, tiny_case, tmp_path, factor):
    ds, want = _ease2_product(tiny_case, factor)
    ds.to_netcdf(tmp_path / "e.nc")
    got = import_external(tmp_path / "e.nc", tiny_case, "ease")
    np.testing.assert_allclose(got.sm.values, want, rtol=1e-6, equal_nan=True)


def test_a_product_of_this_package_imports_as_itself(tiny, tiny_case, tmp_path):
    """A product written by stsg-bench (EASE2 y/x with its crs) or held as global row/col indices, and as a
    Zarr store, imports unchanged: e.g. STSG-SM or another fusion product on the 36 km grid."""
    folder, _ = tiny
    first = import_external(folder / "product.nc", tiny_case, "p").sm
    from stsg_bench.io.lazy import save_product

    save_product(first, tmp_path / "mine.nc", {}, case=tiny_case)
    again = import_external(tmp_path / "mine.nc", tiny_case, "again").sm
    np.testing.assert_array_equal(again.values, first.values)
    by_index = xr.open_dataset(tmp_path / "mine.nc")[["sm"]].swap_dims({"y": "row", "x": "col"})
    by_index = by_index.drop_vars(["x", "y", "lat", "lon", "crs"], errors="ignore")
    by_index["sm"].attrs.pop("grid_mapping", None)
    by_index.to_netcdf(tmp_path / "rowcol.nc")
    np.testing.assert_array_equal(import_external(tmp_path / "rowcol.nc", tiny_case, "rc").sm.values, first.values)
    pytest.importorskip("zarr")
    save_product(first, tmp_path / "mine.zarr", {}, case=tiny_case)
    np.testing.assert_array_equal(import_external(tmp_path / "mine.zarr", tiny_case, "z").sm.values, first.values)


def test_valid_time_is_read_as_time(tiny, tiny_case, tmp_path):
    folder, src = tiny
    src.rename({"time": "valid_time"}).to_netcdf(tmp_path / "era.nc")
    got = import_external(tmp_path / "era.nc", tiny_case, "era").sm.values
    np.testing.assert_array_equal(got, import_external(folder / "product.nc", tiny_case, "p").sm.values)


# -- GeoTIFF / COG: one file per day, EPSG:4326 or EPSG:6933 ---------------------------------------------
def _write_tif(da: xr.DataArray, path: Path, crs: str, driver: str = "GTiff", **tags) -> None:
    """One day's field as a (Cloud-Optimised) GeoTIFF through rioxarray, NaN as nodata."""
    da = da.rio.write_crs(crs).rio.write_nodata(-9999.0, encoded=False)
    da.rio.to_raster(path, driver=driver, tags=tags or None)


@pytest.mark.parametrize("driver", ["GTiff", "COG"])
def test_geotiff_days_import_like_the_netcdf(tiny, tiny_case, tmp_path, driver):
    pytest.importorskip("rioxarray")
    folder, src = tiny
    ref = import_external(folder / "product.nc", tiny_case, "p").sm.values
    tifs = tmp_path / "tifs"
    tifs.mkdir()
    for k in range(src.sizes["time"]):
        day = src["sm"].isel(time=k).rename({"lat": "y", "lon": "x"})
        _write_tif(day, tifs / f"SM_{pd.Timestamp(src.time.values[k]):%Y-%m-%d}_v1.tif", "EPSG:4326", driver)
    got = import_external(tifs, tiny_case, "tif")
    np.testing.assert_allclose(got.sm.values, ref, rtol=0, atol=1e-6, equal_nan=True)
    assert got.sm.attrs["source_variable"] == "sm"


def test_geotiff_on_ease2_and_its_units_and_dates(tiny, tiny_case, tmp_path):
    pytest.importorskip("rioxarray")
    ds, want = _ease2_product(tiny_case, 4)
    out = tmp_path / "ease"
    out.mkdir()
    for k in range(ds.sizes["time"]):  # percent, dated by TIFFTAG_DATETIME (no date in the names)
        day = ds["sm"].isel(time=k) * 100
        day.attrs = {}
        stamp = f"{pd.Timestamp(ds.time.values[k]):%Y:%m:%d} 00:00:00"
        _write_tif(day, out / f"day{k:04d}.tif", "EPSG:6933", TIFFTAG_DATETIME=stamp, units="%")
    got = import_external(out, tiny_case, "ease_tif")
    np.testing.assert_allclose(got.sm.values, want, rtol=1e-5, equal_nan=True)
    assert any("converted from '%'" in n for n in got.notes)


def test_bad_geotiffs_are_one_line_errors(tiny, tiny_case, tmp_path, capsys):
    pytest.importorskip("rioxarray")
    folder, src = tiny
    day = src["sm"].isel(time=0).rename({"lat": "y", "lon": "x"})
    _write_tif(day, tmp_path / "nodate.tif", "EPSG:4326")
    _cli_error(capsys, ["product", "import", str(tmp_path / "nodate.tif"), "--case", str(folder / "case.nc"),
                        "--out", str(tmp_path / "o.nc")], "nodate.tif", "no date")  # fmt: skip
    utm = day.assign_coords(x=np.arange(day.sizes["x"]) * 1000.0, y=np.arange(day.sizes["y"]) * 1000.0)
    _write_tif(utm, tmp_path / "utm_20170101.tif", "EPSG:32605")
    _cli_error(capsys, ["product", "import", str(tmp_path / "utm_20170101.tif"), "--case", str(folder / "case.nc"),
                        "--out", str(tmp_path / "o.nc")], "utm_20170101.tif", "EPSG:4326", "gdalwarp")  # fmt: skip
    (tmp_path / "broken_20170101.tif").write_bytes(b"II*\x00garbage")
    _cli_error(capsys, ["product", "import", str(tmp_path / "broken_20170101.tif"), "--case", str(folder / "case.nc"),
                        "--out", str(tmp_path / "o.nc")], "broken_20170101.tif", "not a readable GeoTIFF")  # fmt: skip
