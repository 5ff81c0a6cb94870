"""The readers on every real file in ../shared/data (skipped with a reason when it is absent)."""

import numpy as np
import pandas as pd
import pytest

from stsg_bench.io.ismn import read_ismn, read_stm

pytestmark = pytest.mark.realdata


def test_every_real_ismn_file_reads(real_data):
    roots = [
        real_data / "hawaii" / "ismn",
        real_data / "samples" / "ismn_ceop",
        real_data / "samples" / "ismn_header_values",
    ]
    total = 0
    for root in roots:
        coll = read_ismn(root, strict=True)
        assert coll.sensors, root
        for s in coll.sensors:
            assert len(s.data) > 100 and np.isfinite(s.data["sm"]).all()
            assert -90 <= s.lat <= 90 and s.depth_to >= s.depth_from
        total += len(coll.sensors)
    assert total >= 10 + 1 + 3  # Hawaii 10 sensors, CEOP Narbonne, header+values Narbonne + 2 COSMOS


def test_ismn_zip_download(real_data):
    coll = read_ismn(real_data / "samples" / "ismn_header_values" / "Data_header_values.zip", strict=True)
    nets = {s.network for s in coll.sensors}
    assert {"MAQU", "SCAN", "SOILSCAPE"} <= nets
    assert all(s.data.index.year.min() >= 2007 for s in coll.sensors)


def test_ceop_and_header_values_agree(real_data):
    ceop = read_stm(next((real_data / "samples" / "ismn_ceop").rglob("*.stm")))
    hv = read_stm(next((real_data / "samples" / "ismn_header_values" / "SMOSMANIA").rglob("*.stm")))
    assert ceop.station == hv.station == "Narbonne"
    pd.testing.assert_series_equal(ceop.data["sm"], hv.data["sm"])
    assert set(hv.data["flag"]) >= {"U"}


def test_hawaii_depth_filter_keeps_scan_and_drops_cosmos_at_5cm(real_data):
    coll = read_ismn(real_data / "hawaii" / "ismn")
    keys = {s.name for s in coll.filter(depth=(0.0, 0.10)).sensors}
    assert "SCAN/KemoleGulch" in keys and "COSMOS/SilverSword" not in keys
    assert "COSMOS/SilverSword" in {s.name for s in coll.filter(depth=(0.0, 0.20)).sensors}
    assert len([s for s in coll.sensors if s.station == "Kainaliu"]) == 2


def test_gldas_real_day_with_missing_00utc(real_data):
    from stsg_bench.io.gldas import read_gldas_folder

    res = read_gldas_folder(real_data / "samples" / "gldas_nc4")
    assert res.noah.shape == (1, 406, 964)
    assert any("0000 UTC" in p for p in res.problems)
    v = res.noah.values[np.isfinite(res.noah.values)]
    assert 0.019 < v.min() and v.max() < 0.6 and v.size > 90000


def test_gldas_land_matches_smap_land_grid(real_data):
    """Regridded GLDAS covers nearly all of SMAP's 103,902 land cells (ease36land.nc, rows from the south)."""
    import xarray as xr

    from stsg_bench.io.gldas import read_gldas_folder

    land = xr.open_dataset(real_data / "samples" / "ease36land.nc")
    gpi = land["gpi"].values
    row, col = 405 - gpi // 964, gpi % 964
    noah = read_gldas_folder(real_data / "samples" / "gldas_nc4").noah.values[0]
    covered = np.isfinite(noah[row, col]).mean()
    assert covered > 0.9


def test_hawaii_case_builds_with_visible_notes(real_data, tmp_path):
    from stsg_bench.case import open_case, valid_smap
    from stsg_bench.cli import main

    assert main(["case", "hawaii", "--out", str(tmp_path / "h.nc"), "--data-root", str(real_data.parent)]) == 0
    ds = open_case(tmp_path / "h.nc")
    assert ds.sizes["time"] == 730 and ds["land"].sum() == 13
    assert "retrieval_success" in ds.attrs["smap_quality_rule"]
    assert "no GLDAS cell" in ds.attrs["history"]
    assert valid_smap(ds).sum() > 1000
    noah = ds["noah"].values[:, ds["land"].values]
    assert 0.05 < np.nanmean(noah) < 0.6


def test_score_matches_stations_as_run_does(real_data, tmp_path):
    """``score`` on a case built from the Hawaii card uses the card's [ismn] settings (0-0.20 m keeps the
    COSMOS probe), exactly as ``run`` does through the one evaluation loop; --depth overrides them."""
    import xarray as xr

    from stsg_bench.cards import build_bundle
    from stsg_bench.cli import main
    from stsg_bench.io.lazy import open_product_lazy
    from stsg_bench.validation import evaluate, standard_references

    case = tmp_path / "case.nc"
    assert main(["case", "hawaii", "--out", str(case), "--data-root", str(real_data.parent)]) == 0
    prod = tmp_path / "noah_raw.nc"
    assert (
        main(
            [
                "fuse",
                "--method",
                "noah_raw",
                "--case",
                str(case),
                "--out",
                str(prod),
                "--period",
                "2018-01-01",
                "2018-12-31",
            ]
        )
        == 0
    )
    args = ["score", "--case", str(case), "--products", str(prod), "--insitu", str(real_data / "hawaii" / "ismn")]
    assert main(args + ["--out", str(tmp_path / "r.nc")]) == 0
    assert main(args + ["--out", str(tmp_path / "r10.nc"), "--depth", "0", "0.1"]) == 0
    res, res10 = xr.open_dataset(tmp_path / "r.nc"), xr.open_dataset(tmp_path / "r10.nc")
    cosmos = [s for s in res["station"].values if str(s).startswith("COSMOS/SilverSword")]
    assert cosmos and str(res["station_status"].sel(station=cosmos[0]).values[0]) == "ok"
    assert not any(str(s).startswith("COSMOS") for s in res10["station"].values)

    bundle = build_bundle("hawaii", data_root=real_data.parent)
    test = bundle.case.sel(time=slice("2018-01-01", "2018-12-31"))
    ev = evaluate(
        {"noah_raw": open_product_lazy(prod)}, test, standard_references(test, bundle.insitu), bundle.card.validation
    )
    np.testing.assert_allclose(res["value"].values, ev.results["value"].values, rtol=0, atol=1e-12)
