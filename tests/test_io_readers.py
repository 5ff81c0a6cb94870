"""Readers on files the tests write in the exact native layouts, and every bad-input case."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from stsg_bench.errors import ConfigError, InputError
from stsg_bench.grid import NCOLS, NROWS, Window
from stsg_bench.io.gldas import read_gldas_file, read_gldas_folder
from stsg_bench.io.ismn import daily_mean, read_ismn, read_stm, read_stm_bytes
from stsg_bench.io.regrid import BucketRegridder
from stsg_bench.io.smap import quality_mask, read_smap_folder, read_spl3smp, write_spl3smp

WIN = Window(100, 110, 500, 512)


def _sm_field(seed, nan_frac=0.3):
    rng = np.random.default_rng(seed)
    f = rng.uniform(0.05, 0.45, (NROWS, NCOLS))
    f[rng.random((NROWS, NCOLS)) < nan_frac] = np.nan
    return f


def _smap_folder(tmp_path, days=3):
    fields = []
    for i in range(days):
        am, pm = _sm_field(i), _sm_field(100 + i)
        write_spl3smp(tmp_path / f"SMAP_L3_SM_P_2017010{i + 1}_R19240_001.h5", f"2017-01-0{i + 1}", am, pm)
        fields.append((am, pm))
    return fields


def test_spl3smp_roundtrip_window_and_passes(tmp_path):
    fields = _smap_folder(tmp_path)
    res = read_smap_folder(tmp_path, WIN, pass_="am")
    ds = res.dataset
    assert ds["smap"].shape == (3, 10, 12) and not res.problems
    np.testing.assert_allclose(ds["smap"].values[1], fields[1][0][100:110, 500:512].astype(np.float32))
    both = read_smap_folder(tmp_path, WIN, pass_="am_pm").dataset
    am, pm = fields[0][0][100:110, 500:512], fields[0][1][100:110, 500:512]
    expect = np.where(np.isfinite(am), am, pm)
    np.testing.assert_allclose(both["smap"].values[0], expect.astype(np.float32))
    assert "surface_flag_am" in both and "tb_time_utc_pm" in both


def test_quality_rules():
    sm = np.array([0.2, 0.2, 0.2, np.nan])
    flag = np.array([0, 1, 5, 0])
    np.testing.assert_array_equal(quality_mask(sm, flag, "recommended"), [True, False, False, False])
    np.testing.assert_array_equal(quality_mask(sm, flag, "retrieval_success"), [True, True, False, False])
    with pytest.raises(ConfigError, match="unknown SMAP quality rule"):
        quality_mask(sm, flag, "strictest")


# ---- bad input: SMAP ----------------------------------------------------------------------------------
def test_bad_truncated_hdf5(tmp_path):
    p = tmp_path / "SMAP_L3_SM_P_20170101_R19240_001.h5"
    write_spl3smp(p, "2017-01-01", _sm_field(0))
    p.write_bytes(p.read_bytes()[:2000])
    with pytest.raises(InputError, match=r"SMAP_L3_SM_P_20170101.*(not an HDF5|truncated)"):
        read_spl3smp(p, WIN)


def test_bad_not_hdf5(tmp_path):
    p = tmp_path / "SMAP_L3_SM_P_20170101_R19240_001.h5"
    p.write_text("hello")
    with pytest.raises(InputError, match="not an HDF5 file"):
        read_spl3smp(p)


def test_bad_missing_group(tmp_path):
    import h5py

    p = tmp_path / "SMAP_L3_SM_P_20170101_R19240_001.h5"
    with h5py.File(p, "w") as f:
        f.create_group("Metadata")
    with pytest.raises(InputError, match="group 'Soil_Moisture_Retrieval_Data_AM' missing"):
        read_spl3smp(p)


def test_bad_missing_variable(tmp_path):
    import h5py

    p = tmp_path / "SMAP_L3_SM_P_20170101_R19240_001.h5"
    write_spl3smp(p, "2017-01-01", _sm_field(0))
    with h5py.File(p, "a") as f:
        del f["Soil_Moisture_Retrieval_Data_AM/soil_moisture"]
    with pytest.raises(InputError, match=r"\[Soil_Moisture_Retrieval_Data_AM/soil_moisture\]: variable missing"):
        read_spl3smp(p)


def test_bad_wrong_shape(tmp_path):
    import h5py

    p = tmp_path / "SMAP_L3_SM_P_20170101_R19240_001.h5"
    with h5py.File(p, "w") as f:
        g = f.create_group("Soil_Moisture_Retrieval_Data_AM")
        g.create_dataset("soil_moisture", data=np.zeros((100, 200), np.float32))
        g.create_dataset("retrieval_qual_flag", data=np.zeros((100, 200), np.uint16))
    with pytest.raises(InputError, match=r"shape \(100, 200\), expected \(406, 964\)"):
        read_spl3smp(p, passes=("am",))


def test_folder_with_one_bad_file_reads_the_rest(tmp_path):
    _smap_folder(tmp_path, days=3)
    (tmp_path / "SMAP_L3_SM_P_20170104_R19240_001.h5").write_text("broken")
    res = read_smap_folder(tmp_path, WIN)
    assert res.dataset.sizes["time"] == 3
    assert len(res.problems) == 1 and "20170104" in res.problems[0]
    with pytest.raises(InputError, match="20170104"):
        read_smap_folder(tmp_path, WIN, strict=True)


def test_all_fill_day_reported(tmp_path):
    write_spl3smp(tmp_path / "SMAP_L3_SM_P_20170101_R19240_001.h5", "2017-01-01", np.full((NROWS, NCOLS), np.nan))
    res = read_smap_folder(tmp_path, WIN)
    assert any("all-fill day" in p for p in res.problems)
    assert np.isnan(res.dataset["smap"].values).all()


def test_duplicate_smap_day(tmp_path):
    for rel in ("R18290", "R19240"):
        write_spl3smp(tmp_path / f"SMAP_L3_SM_P_20170101_{rel}_001.h5", "2017-01-01", _sm_field(0))
    with pytest.raises(InputError, match="duplicate day 2017-01-01"):
        read_smap_folder(tmp_path, WIN)


# ---- GLDAS -------------------------------------------------------------------------------------------
def _write_gldas(path, values, units="kg m-2", var="SoilMoi0_10cm_inst"):
    lat = np.arange(-59.875, 90, 0.25)
    lon = np.arange(-179.875, 180, 0.25)
    ds = xr.Dataset(
        {var: (("time", "lat", "lon"), values[None].astype(np.float32), {"units": units})},
        coords={"time": [0.0], "lat": lat, "lon": lon},
    )
    ds.to_netcdf(path, encoding={var: {"_FillValue": -9999.0}})


def test_gldas_units_conversion_and_regrid_of_constant_field(tmp_path):
    vals = np.full((600, 1440), 25.0)
    vals[:40] = np.nan
    _write_gldas(tmp_path / "GLDAS_NOAH025_3H.A20170101.0300.021.nc4", vals)
    _, _, f = read_gldas_file(tmp_path / "GLDAS_NOAH025_3H.A20170101.0300.021.nc4")
    assert np.nanmax(f) == pytest.approx(0.25)
    res = read_gldas_folder(tmp_path, Window(100, 110, 500, 512))
    assert res.noah.shape == (1, 10, 12)
    np.testing.assert_allclose(res.noah.values, 0.25, rtol=1e-6)
    assert any("missing 7 of 8" in p for p in res.problems)


def test_bucket_regrid_is_area_weighted_mean():
    lat = np.array([0.125, 0.375])
    lon = np.array([0.125, 0.375])
    r = BucketRegridder.from_latlon(lat, lon, Window(200, 206, 480, 486))
    field = np.array([[1.0, 2.0], [3.0, np.nan]])
    out = r(field)
    cover = r.coverage()
    assert cover.sum() == 4
    # the target value is a weighted mean of the finite source values that fall in it
    assert np.nanmin(out) >= 1.0 and np.nanmax(out) <= 3.0
    assert np.isfinite(out).sum() >= 1


def test_gldas_wrong_variable(tmp_path):
    _write_gldas(tmp_path / "GLDAS_NOAH025_3H.A20170101.0300.021.nc4", np.full((600, 1440), 20.0), var="Tair_f_inst")
    with pytest.raises(InputError, match=r"\[SoilMoi0_10cm_inst\]: variable missing"):
        read_gldas_file(tmp_path / "GLDAS_NOAH025_3H.A20170101.0300.021.nc4")


def test_gldas_already_volumetric(tmp_path):
    _write_gldas(tmp_path / "g.nc4", np.full((600, 1440), 0.25))
    with pytest.raises(InputError, match="already in m3 m-3"):
        read_gldas_file(tmp_path / "g.nc4")


def test_gldas_labelled_volumetric_but_kg(tmp_path):
    _write_gldas(tmp_path / "g.nc4", np.full((600, 1440), 25.0), units="m3 m-3")
    with pytest.raises(InputError, match="units say m3 m-3 but values reach 25"):
        read_gldas_file(tmp_path / "g.nc4")


def test_gldas_duplicated_timestamp(tmp_path):
    _write_gldas(tmp_path / "GLDAS_NOAH025_3H.A20170101.0300.021.nc4", np.full((600, 1440), 20.0))
    (tmp_path / "copy").mkdir()
    _write_gldas(tmp_path / "copy" / "GLDAS_NOAH025_3H.A20170101.0300.021.nc4", np.full((600, 1440), 20.0))
    with pytest.raises(InputError, match="duplicate time stamp 2017-01-01 0300"):
        read_gldas_folder(tmp_path, WIN)


# ---- ISMN ---------------------------------------------------------------------------------------------
HV = "SCAN       SCAN            Demo              19.91700  -155.58300 1268.88    0.05    0.05 Probe\n"


def test_ismn_broken_header(tmp_path):
    p = tmp_path / "SCAN_SCAN_Demo_sm_0.050000_0.050000_Probe_20170101_20170102.stm"
    p.write_text("SCAN SCAN Demo nineteen west\n2017/01/01 00:00 0.2 G M\n")
    with pytest.raises(InputError, match="broken header"):
        read_stm(p)


def test_ismn_unparsable_line(tmp_path):
    p = tmp_path / "SCAN_SCAN_Demo_sm_0.050000_0.050000_Probe_20170101_20170102.stm"
    p.write_text(HV + "2017/01/01 00:00 0.2 G M\n2017/01/01 01:00 abc G M\n")
    with pytest.raises(InputError, match="line 3: cannot parse"):
        read_stm(p)


def test_ismn_out_of_order_and_duplicates(tmp_path):
    p = tmp_path / "SCAN_SCAN_Demo_sm_0.050000_0.050000_Probe_20170101_20170102.stm"
    p.write_text(HV + "2017/01/01 01:00 0.2 G M\n2017/01/01 00:00 0.2 G M\n")
    with pytest.raises(InputError, match="out of order"):
        read_stm(p)
    p.write_text(HV + "2017/01/01 01:00 0.2 G M\n2017/01/01 01:00 0.2 G M\n")
    with pytest.raises(InputError, match="duplicated time stamp"):
        read_stm(p)


def test_ismn_folder_with_bad_file_keeps_good(tmp_path):
    d = tmp_path / "SCAN" / "Demo"
    d.mkdir(parents=True)
    (d / "SCAN_SCAN_Demo_sm_0.050000_0.050000_Probe_20170101_20170102.stm").write_text(
        HV + "2017/01/01 00:00 0.2 G M\n"
    )
    (d / "SCAN_SCAN_Demo_sm_0.100000_0.100000_Probe_20170101_20170102.stm").write_text("garbage\n")
    coll = read_ismn(tmp_path)
    assert len(coll.sensors) == 1 and len(coll.problems) == 1


def test_ismn_carriage_return_only_and_daily_mean():
    raw = (
        HV.strip() + "\r" + "\r".join(f"2017/01/01 {h:02d}:00 0.{20 + h:02d} G M" for h in range(24)) + "\r"
    ).encode()
    s = read_stm_bytes(raw, "SCAN_SCAN_Demo_sm_0.050000_0.050000_Probe_20170101_20170101.stm")
    assert len(s.data) == 24 and s.lat == pytest.approx(19.917)
    d = daily_mean(s)
    assert d.iloc[0] == pytest.approx(np.mean([0.20 + h / 100 for h in range(24)]))
    assert daily_mean(s, min_hours=25).empty


def test_card_naming_missing_file(tmp_path, monkeypatch):
    from stsg_bench.cards import build_bundle

    card = tmp_path / "broken.toml"
    card.write_text(
        'name = "broken"\nkind = "files"\n[grid]\nwindow = {row0 = 1, row1 = 3, col0 = 1, col1 = 3}\n'
        '[smap]\nreader = "smap_window_netcdf"\npath = "nope/smap.nc"\n'
        '[gldas]\nreader = "gldas_window_netcdf"\npath = "nope/g.nc"\n'
    )
    with pytest.raises(InputError, match=r"nope/smap.nc.*\[smap.path\]: file named by dataset card"):
        build_bundle(card, data_root=tmp_path)


def test_unknown_card():
    from stsg_bench.cards import load_card

    with pytest.raises(ConfigError, match="unknown dataset card 'atlantis'.*hawaii"):
        load_card("atlantis")


def test_lazy_smap_folder_equals_eager_and_reads_only_needed_files(tmp_path, monkeypatch):
    from stsg_bench.io import smap as smap_mod

    _smap_folder(tmp_path, days=4)
    (tmp_path / "SMAP_L3_SM_P_20170109_R19240_001.h5").write_text("broken")
    eager = read_smap_folder(tmp_path, WIN, pass_="am_pm")
    lazy = smap_mod.open_smap_folder_lazy(tmp_path, WIN, pass_="am_pm")
    assert len(lazy.problems) == 1 and "20170109" in lazy.problems[0]
    calls = []
    real = smap_mod.read_spl3smp
    monkeypatch.setattr(smap_mod, "read_spl3smp", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    one = lazy.dataset["smap"].isel(time=2, y=slice(0, 4)).values
    assert len(calls) == 1 and one.shape == (4, 12)
    np.testing.assert_array_equal(lazy.dataset["smap"].values, eager.dataset["smap"].values)
    np.testing.assert_array_equal(lazy.dataset["smap_quality"].values, eager.dataset["smap_quality"].values)


def test_spl3smp_v9_dtypes_and_overpass_time(tmp_path):
    """Files written with the real V9 dtypes (uint16 flags, float32 fills, string tb_time_utc, float64
    tb_time_seconds): the overpass time is the same from the seconds and from the strings."""
    import h5py

    am = _sm_field(0)
    name = "SMAP_L3_SM_P_20170101_R19240_001.h5"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = write_spl3smp(tmp_path / "a" / name, "2017-01-01", am, am)
    b = write_spl3smp(tmp_path / "b" / name, "2017-01-01", am, am, overpass_time="string")
    with h5py.File(a) as f:
        g = f["Soil_Moisture_Retrieval_Data_AM"]
        assert g["tb_time_utc"].dtype.kind == "S" and g["retrieval_qual_flag"].dtype == np.uint16
        assert g["tb_time_seconds"].dtype == np.float64 and g["soil_moisture"].attrs["units"] == "cm**3/cm**3"
    ra, rb = read_spl3smp(a, WIN), read_spl3smp(b, WIN)
    ok = np.isfinite(am[100:110, 500:512])
    expect_am = (pd.Timestamp("2017-01-01T06:00") - pd.Timestamp("2000-01-01T12:00")).total_seconds()
    np.testing.assert_allclose(ra["am"]["tb_time_utc"][ok], expect_am, atol=1e-3)
    np.testing.assert_allclose(rb["am"]["tb_time_utc"][ok], expect_am, atol=1e-3)
    np.testing.assert_allclose(ra["pm"]["tb_time_utc"][ok], expect_am + 12 * 3600, atol=1e-3)
    assert np.isnan(ra["am"]["tb_time_utc"][~ok]).all() and np.isnan(ra["am"]["surface_flag"][~ok]).all()
    np.testing.assert_allclose(ra["am"]["soil_moisture"][ok], am[100:110, 500:512][ok].astype(np.float32))


@pytest.mark.parametrize(
    "edit, key, words",
    [
        ("string_sm", "soil_moisture", "where a number is needed"),
        ("drop_quality", "retrieval_qual_flag", "variable missing"),
        ("percent_units", "soil_moisture", "units '%'"),
        ("drop_group", None, "Soil_Moisture_Retrieval_Data_PM"),
    ],
)
def test_spl3smp_bad_granules(tmp_path, edit, key, words):
    import h5py

    path = write_spl3smp(tmp_path / "SMAP_L3_SM_P_20170101_R19240_001.h5", "2017-01-01", _sm_field(0), _sm_field(1))
    with h5py.File(path, "a") as f:
        g = f["Soil_Moisture_Retrieval_Data_AM"]
        if edit == "string_sm":
            del g["soil_moisture"]
            g.create_dataset("soil_moisture", data=np.full((NROWS, NCOLS), b"0.2", dtype="S4"))
        elif edit == "drop_quality":
            del g["retrieval_qual_flag"]
        elif edit == "percent_units":
            g["soil_moisture"].attrs["units"] = "%"
        else:
            del f["Soil_Moisture_Retrieval_Data_PM"]
    with pytest.raises(InputError) as err:
        read_spl3smp(path, WIN)
    assert str(path) in str(err.value) and words in str(err.value)
    if key:
        assert f"[Soil_Moisture_Retrieval_Data_AM/{key}]" in str(err.value)


def test_full_ismn_download_reads_soil_moisture_only(tmp_path):
    """A download with sm/ts/p/ta files, two sensors at one depth, a header name that differs from the
    folder, static variables and one file in a layout the reader does not know."""
    st = tmp_path / "SCAN" / "DemoStation"
    st.mkdir(parents=True)
    rows = "".join(f"2017/01/01 {h:02d}:00 0.{20 + h:02d} G M\n" for h in range(24))
    header = HV.replace("Demo  ", "Demo_Station")
    for var in ("sm", "ts", "p", "ta"):
        for sensor in ("Probe-A", "Probe-B"):
            name = f"SCAN_SCAN_DemoStation_{var}_0.050000_0.050000_{sensor}_20170101_20170101.stm"
            (st / name).write_text(header + rows)
    (st / "SCAN_SCAN_DemoStation_static_variables.csv").write_text(
        "quantity_name;unit;depth_from[m];depth_to[m];value;description;\n"
        "saturation;m^3*m^-3;0.00;0.30;0.52;;\n"
        "clay fraction;% weight;0.00;0.30;12.00;;\n"
        "land cover classification;;;;120;Shrubland;\n"
        "climate classification;;;;Csb;Temperate - Dry Summer;\n"
    )
    (st / "SCAN_SCAN_DemoStation_sm_0.100000_0.100000_Odd_20170101_20170101.stm").write_text(
        "2017/01/01 00:00 2017/01/01 00:00 SCAN SCAN Demo 19.9 -155.5\n"
    )
    coll = read_ismn(tmp_path)
    keys = sorted(s.key for s in coll.sensors)
    assert keys == [
        "SCAN/DemoStation/Probe-A_0.0500_0.0500",
        "SCAN/DemoStation/Probe-B_0.0500_0.0500",
    ]
    assert all(s.variable == "sm" for s in coll.sensors)
    meta = coll.sensors[0].metadata
    assert (
        meta["saturation"] == 0.52
        and meta["land_cover"] == "Shrubland"
        and meta["climate_class"].startswith("Temperate")
    )
    assert any("Odd" in p and "[sm]" in p for p in coll.problems)
    assert any("'SCAN/Demo_Station'" in p and "'SCAN/DemoStation'" in p for p in coll.problems)
    every = read_ismn(tmp_path, variable=None)
    assert len({s.key for s in every.sensors}) == 8  # variable + depth + sensor keep all apart
