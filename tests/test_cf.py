"""Outputs the field's tools read: CF-1.8 checked by compliance-checker (and cfchecks where it runs), the
per-pixel source flag, rioxarray reprojection, and results in QA4SM's layout (read by qa4sm-reader when it
is installed: it is not in the test extra, see docs/validation.md)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr
from clirun import run_cli

from stsg_bench.case import SOURCE_FLAGS, open_case, valid_smap
from stsg_bench.cf import from_cf, to_cf
from stsg_bench.reports.qa4sm import METRIC_NAMES, to_qa4sm
from stsg_bench.validation import open_results

QA4SM_SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "samples" / "qa4sm_results"


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """A tiny twin's case, two products (one passes SMAP through), their results and the QA4SM export."""
    d = tmp_path_factory.mktemp("cf")
    assert run_cli("twin", "--preset", "tiny", "--out", d / "tw").returncode == 0
    for method in ("lin_cdf_match", "noah_raw"):
        r = run_cli("fuse", "--method", method, "--case", d / "tw" / "case.nc", "--out", d / f"{method}.nc")
        assert r.returncode == 0, r.stderr
    r = run_cli(
        "score", "--case", d / "tw" / "case.nc", "--products", d / "lin_cdf_match.nc", d / "noah_raw.nc",
        "--insitu", d / "tw" / "ismn", "--out", d / "results.nc",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = run_cli("export", d / "results.nc", "--format", "qa4sm", "--out", d / "qa4sm.nc")
    assert r.returncode == 0, r.stderr
    return {
        "case": d / "tw" / "case.nc",
        "product": d / "lin_cdf_match.nc",
        "model": d / "noah_raw.nc",
        "results": d / "results.nc",
        "qa4sm": d / "qa4sm.nc",
    }


# compliance-checker 6.1.0 iterates the characters of a string where it means a list of required
# grid-mapping attributes for lambert_cylindrical_equal_area ("_ is a required attribute", "a is ...", ...):
# its own bug (appendix F), not a missing attribute; those one-letter messages are the only ones let through.
_CHECKER_BUG = re.compile(r"^. is a required attribute for grid mapping lambert_cylindrical_equal_area$")


def _cf_problems(path: Path) -> list[str]:
    from compliance_checker.runner import CheckSuite

    suite = CheckSuite()
    suite.load_all_available_checkers()
    ds = suite.load_dataset(str(path))
    groups = suite.run_all(ds, ["cf:1.8"], skip_checks=[])
    results, errors = groups["cf:1.8"]
    problems = [f"checker exception: {name}: {err}" for name, err in errors.items()]
    for res in results:
        passed, total = res.value if isinstance(res.value, tuple) else (int(bool(res.value)), 1)
        if passed < total:
            problems += [f"{res.name}: {m}" for m in res.msgs if not _CHECKER_BUG.match(m)]
    return problems


@pytest.mark.parametrize(
    "kind", ["product", *(pytest.param(k, marks=pytest.mark.slow) for k in ("case", "model", "results"))]
)
def test_compliance_checker_finds_nothing(outputs, kind):
    assert _cf_problems(outputs[kind]) == []


@pytest.mark.slow  # outside tools (checkers, readers) or several CLI runs
def test_compliance_checker_on_the_qa4sm_export(outputs):
    # QA4SM's own variable names ("R_between_0-ISMN_and_1-X") hold '-', which CF §2.3 advises against;
    # the layout is QA4SM's (its real result files are named so), everything else is clean
    naming = re.compile(r"^§2.3 Naming Conventions: variable \S+_between_0-ISMN_and_\d+-\w+ should begin with")
    assert [p for p in _cf_problems(outputs["qa4sm"]) if not naming.match(p)] == []


def _udunits_available() -> bool:
    if importlib.util.find_spec("cfchecker") is None:
        return False
    try:
        import cfunits  # noqa: F401  (needs the udunits2 C library)
    except Exception:
        return False
    return True


@pytest.mark.slow  # outside tools (checkers, readers) or several CLI runs
@pytest.mark.skipif(not _udunits_available(), reason="cfchecks not installed (needs the udunits2 C library)")
@pytest.mark.parametrize("kind", ["case", "product", "results", "qa4sm"])
def test_cfchecks_finds_no_error(outputs, kind, tmp_path):
    import compliance_checker
    from cfchecker.cfchecks import CFChecker

    names = Path(compliance_checker.__file__).parent / "data" / "cf-standard-name-table.xml"
    # the area-type and region tables are fetched from the web unless given; no variable here uses them
    head = "<version_number>1</version_number><date>2024-01-01</date>"
    (tmp_path / "area.xml").write_text(f"<area_type_table>{head}</area_type_table>")
    (tmp_path / "region.xml").write_text(f"<standardized_region_list>{head}</standardized_region_list>")
    checker = CFChecker(
        cfStandardNamesXML=str(names),
        cfAreaTypesXML=str(tmp_path / "area.xml"),
        cfRegionNamesXML=str(tmp_path / "region.xml"),
        version="1.8",
        silent=True,
    )
    checker.checker(str(outputs[kind]))
    assert checker.get_total_counts()["FATAL"] == 0
    assert checker.get_total_counts()["ERROR"] == 0


def test_files_hold_cf_types_bounds_and_history(outputs):
    with netCDF4.Dataset(outputs["product"]) as nc:
        assert nc["time"].dtype == np.int32 and nc["time"].units == "days since 1970-01-01"
        assert nc["time"].bounds == "time_bnds" and nc["time_bnds"].dtype == np.int32
        assert (nc["time_bnds"][:, 1] - nc["time_bnds"][:, 0] == 1).all()
        for coord in ("x", "y"):
            assert "_FillValue" not in nc[coord].ncattrs()
        assert nc["sm"].valid_max.dtype == np.float32 and nc["sm"].cell_methods == "area: mean time: mean"
        assert "stsg-bench" in nc.history
    with netCDF4.Dataset(outputs["case"]) as nc:
        assert nc["land"].dtype == np.int8 and list(nc["land"].flag_values) == [0, 1]
    with netCDF4.Dataset(outputs["results"]) as nc:
        assert nc["n"].dtype == np.int32
        assert all(not isinstance(v.datatype, netCDF4.VLType) for v in nc.variables.values())
    # and back as written: string labels are index coordinates again, no time bounds
    res = xr.open_dataset(outputs["results"])
    assert "lin_cdf_match" in res.sel(product="lin_cdf_match")["product"].values
    assert "time_bnds" not in open_results(outputs["results"])


def test_product_source_flag_says_observed_filled_and_not_land(outputs):
    case = open_case(outputs["case"])
    for kind in ("product", "model"):
        ds = xr.open_dataset(outputs[kind])
        flag, sm = ds["sm_flag"], ds["sm"]
        assert "sm_flag" in sm.attrs["ancillary_variables"].split()
        assert flag.attrs["flag_meanings"].split() == list(SOURCE_FLAGS)
        sub = case.sel(time=sm["time"])
        land = np.broadcast_to(sub["land"].values, sm.shape)
        observed = valid_smap(sub).values
        f = flag.values
        assert (f[~land] == SOURCE_FLAGS["not_land"]).all()
        assert (f[land & observed & np.isfinite(sm.values)] == SOURCE_FLAGS["smap_observed"]).all()
        assert (f[land & ~observed & np.isfinite(sm.values)] == SOURCE_FLAGS["gap_filled"]).all()
        assert (f == SOURCE_FLAGS["gap_filled"]).any() and (f == SOURCE_FLAGS["smap_observed"]).any()
    # a product that passes SMAP through equals the retrieval wherever the flag says observed
    ds = xr.open_dataset(outputs["product"])
    obs = ds["sm_flag"].values == SOURCE_FLAGS["smap_observed"]
    smap = case["smap"].sel(time=ds["time"]).values
    np.testing.assert_allclose(ds["sm"].values[obs], smap[obs], atol=1e-7)


@pytest.mark.slow  # outside tools (checkers, readers) or several CLI runs
def test_products_reproject_with_rioxarray_as_written(outputs):
    pytest.importorskip("rioxarray")
    sm = xr.open_dataset(outputs["product"])["sm"]
    assert sm.rio.crs.to_epsg() == 6933
    ll = sm.isel(time=0).rio.reproject("EPSG:4326")
    lat, lon = xr.open_dataset(outputs["product"])["lat"], xr.open_dataset(outputs["product"])["lon"]
    assert float(ll["y"].min()) <= float(lat.max()) and float(ll["y"].max()) >= float(lat.min())
    assert float(ll["x"].min()) <= float(lon.max()) and float(ll["x"].max()) >= float(lon.min())
    assert np.isfinite(ll.values).sum() > 0.5 * np.isfinite(sm.isel(time=0).values).sum()


def test_to_cf_and_back_round_trips_a_dataset():
    times = np.array(["2017-01-01", "2017-01-02"], dtype="datetime64[ns]")
    ds = xr.Dataset(
        {"v": (("time", "y", "x"), np.ones((2, 1, 1), np.float32), {"valid_min": 0.0, "long_name": "v"}),
         "flag": (("y", "x"), np.ones((1, 1), bool), {"long_name": "f"}),
         "n": (("y",), np.array([3], np.int64), {"long_name": "n"})},
        coords={"time": times, "y": [0.0], "x": [1.0], "label": ("y", ["a"])},
    )  # fmt: skip
    out, enc = to_cf(ds)
    assert out["v"].attrs["valid_min"].dtype == np.float32 and out["n"].dtype == np.int32
    assert out["flag"].dtype == np.int8 and enc["time"]["dtype"] == "int32" and enc["y"]["_FillValue"] is None
    assert enc["label"]["dtype"] == "S1" and "time_bnds" in out and ds.attrs == {}
    back = from_cf(out)
    assert "time_bnds" not in back and "bounds" not in back["time"].attrs


# -- QA4SM ---------------------------------------------------------------------------------------------
_PAIR = re.compile(r"^(?P<metric>[A-Za-z_]+?)(?P<ci>_ci_lower|_ci_upper)?_between_0-ISMN_and_(?P<i>\d+)-(?P<ds>\w+)$")


def test_qa4sm_export_follows_the_real_layout_and_keeps_the_values(outputs):
    q = xr.open_dataset(outputs["qa4sm"])
    res = open_results(outputs["results"])
    assert set(q.dims) == {"loc", "tsw"} and list(q["tsw"].values)[0] == "bulk"
    assert q.attrs["val_ref"] == "val_dc_dataset0" and q.attrs["val_dc_dataset0"] == "ISMN"
    pairs = [m for v in q.data_vars if (m := _PAIR.match(str(v)))]
    assert {m["metric"] for m in pairs} == set(METRIC_NAMES.values())
    assert {q.attrs[f"val_dc_dataset{m['i']}"] for m in pairs} == {"lin_cdf_match", "noah_raw"}
    ref = "insitu_same"
    for loc, key in enumerate(q["station"].values):
        group = next(g for g in res["group"].values if str(g).startswith("station:") and key in str(g))
        for name, i in (("lin_cdf_match", 1), ("noah_raw", 2)):
            for ours, theirs in (("R", "R"), ("ubRMSE", "urmsd"), ("bias", "BIAS")):
                want = res["value"].sel(
                    product=name, reference=ref, group=group, split="all", window="all", metric=ours
                )
                got = q[f"{theirs}_between_0-ISMN_and_{i}-{name}"].isel(loc=loc).sel(tsw="bulk")
                np.testing.assert_allclose(float(got), float(want), rtol=1e-6, equal_nan=True)
    # the real QA4SM files name every attribute and dimension we write the same way
    if QA4SM_SAMPLES.is_dir():
        real = xr.open_dataset(next(QA4SM_SAMPLES.glob("*tsw_seasons*.nc")))
        assert set(real.dims) == set(q.dims)
        assert {k for k in real.attrs if k.startswith("val_dc_")} and all(
            re.sub(r"\d+$", "", k) in {re.sub(r"\d+$", "", r) for r in real.attrs} | {"val_dc_unit"}
            for k in q.attrs
            if k.startswith("val_")
        )
        real_pairs = {
            m[1]
            for f in QA4SM_SAMPLES.glob("*.nc")
            for v in xr.open_dataset(f).data_vars
            if (m := re.match(r"^(\w+?)_between_", str(v)))
        }
        # every metric name we write is one QA4SM writes (tau's CI: ours is analytic, QA4SM gives none)
        assert {m["metric"] + (m["ci"] or "") for m in pairs} - real_pairs <= {"tau_ci_lower", "tau_ci_upper"}


def test_qa4sm_export_refuses_what_it_cannot_write(outputs):
    res = open_results(outputs["results"])
    with pytest.raises(Exception, match="not in the results"):
        to_qa4sm(res, products=["drcgan"])
    with pytest.raises(Exception, match="--reference truth_x"):
        to_qa4sm(res, reference="truth_x")
    r = run_cli("export", outputs["results"], "--out", outputs["results"])
    assert r.returncode == 2 and "results.nc" in r.stderr


@pytest.mark.slow  # outside tools (checkers, readers) or several CLI runs
def test_qa4sm_reader_opens_and_plots_the_export(outputs, tmp_path):
    pytest.importorskip("qa4sm_reader", reason="qa4sm-reader is not installed (pip install qa4sm-reader==0.11.6)")
    import matplotlib

    matplotlib.use("Agg")
    from qa4sm_reader.img import QA4SMImg
    from qa4sm_reader.plotter import QA4SMPlotter

    img = QA4SMImg(str(outputs["qa4sm"]))
    assert {"R", "urmsd", "BIAS", "n_obs"} <= set(img.metrics)
    assert [d["short_name"] for d in img.datasets.others] == ["lin_cdf_match", "noah_raw"]
    df = img.metric_df(["R"])
    assert len(df) == xr.open_dataset(outputs["qa4sm"]).sizes["loc"]
    plotter = QA4SMPlotter(img, out_dir=str(tmp_path))
    plotter.boxplot_basic("R", out_types="png", save_files=True)
    assert list(tmp_path.rglob("*.png"))


# -- figures a journal accepts -------------------------------------------------------------------------
def test_every_product_gets_its_own_look():
    from stsg_bench.reports.figures import PALETTE, product_styles

    names = [f"p{k}" for k in range(40)]
    styles = product_styles(names)
    looks = {(s["color"], s["marker"], s["linestyle"]) for s in styles.values()}
    assert len(looks) == len(names)
    assert len({styles[n]["color"] for n in names[: len(PALETTE)]}) == len(PALETTE)
    assert product_styles(["a", "b"])["b"] == styles["p1"]  # by position: the same in every figure


def test_box_plots_only_for_networks_of_three_stations_or_more(outputs, tmp_path):
    from stsg_bench.reports.figures import network_boxplot_figure

    res = open_results(outputs["results"])
    stations = [str(g) for g in res["group"].values if str(g).startswith("station:")]
    assert network_boxplot_figure(res, tmp_path / "a.png") is None  # the tiny twin: <= 2 per network
    one_net = {g: "station:NET/" + g.split(":", 1)[1].split("/", 1)[1] for g in stations}
    merged = res.assign_coords(group=[one_net.get(str(g), str(g)) for g in res["group"].values])
    assert network_boxplot_figure(merged, tmp_path / "b.png") == tmp_path / "b.png"


@pytest.mark.slow  # outside tools (checkers, readers) or several CLI runs
# -- Zarr ----------------------------------------------------------------------------------------------
def test_products_and_archive_chunks_as_zarr(outputs, tmp_path):
    pytest.importorskip("zarr")
    z = tmp_path / "lin_cdf_match.zarr"
    r = run_cli("fuse", "--method", "lin_cdf_match", "--case", outputs["case"], "--out", z)
    assert r.returncode == 0, r.stderr
    a, b = xr.open_dataset(z, engine="zarr"), xr.open_dataset(outputs["product"])
    np.testing.assert_array_equal(a["sm"].values, b["sm"].values)
    np.testing.assert_array_equal(a["sm_flag"].values, b["sm_flag"].values)
    assert a["sm"].attrs["units"] == "m3 m-3" and a.attrs["Conventions"] == "CF-1.8"
    # scored like the netCDF product
    r = run_cli("score", "--case", outputs["case"], "--products", z, "--insitu", outputs["case"].parent / "ismn",
                "--out", tmp_path / "r.nc")  # fmt: skip
    assert r.returncode == 0, r.stderr
    pick = {"product": "lin_cdf_match", "reference": "insitu", "metric": ["bias", "R", "RMSE", "ubRMSE"]}
    want = open_results(outputs["results"])["value"].sel(pick)
    got = open_results(tmp_path / "r.nc")["value"].sel(pick)
    np.testing.assert_allclose(got.values, want.values, equal_nan=True)
    # per-year chunks as Zarr stores, read back by open_chunked
    from stsg_bench.workflows.archive import open_chunked

    r = run_cli("fuse", "--method", "noah_raw", "--case", outputs["case"], "--out", tmp_path / "years",
                "--chunk-by-year", "--format", "zarr", "--period", "all")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert [p.name for p in (tmp_path / "years").iterdir()] == ["noah_raw_2017.zarr"]
    assert open_chunked(tmp_path / "years", "noah_raw").sizes["time"] == open_case(outputs["case"]).sizes["time"]
    r = run_cli(
        "fuse", "--method", "noah_raw", "--case", outputs["case"], "--out", tmp_path / "x.nc", "--format", "zarr"
    )
    assert r.returncode == 2 and "--format zarr" in r.stderr and not (tmp_path / "x.nc").exists()


def test_history_has_a_timestamp_only_when_asked(monkeypatch):
    from stsg_bench.cf import _history_line

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert _history_line("x").startswith("stsg-bench ")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert _history_line("x").startswith("2023-11-14T22:13:20Z stsg-bench ")
