import numpy as np
import pytest

from stsg_bench.case import open_case, save_case, valid_smap, validate_case
from stsg_bench.errors import CaseError


def test_valid_case_passes_and_roundtrips(tiny_case, tmp_path):
    validate_case(tiny_case)
    save_case(tiny_case, tmp_path / "c.nc")
    back = open_case(tmp_path / "c.nc")
    assert back["land"].dtype == bool and back["smap_quality"].dtype == bool
    np.testing.assert_array_equal(back["smap"].values, tiny_case["smap"].values)
    assert back["noah"].attrs["units"] == "m3 m-3"
    assert back["noah"].attrs["standard_name"] == "volume_fraction_of_condensed_water_in_soil"
    assert back.attrs["Conventions"] == "CF-1.8"


def test_valid_smap_requires_quality_and_land(tiny_case):
    v = valid_smap(tiny_case)
    assert not v.values[:, ~tiny_case["land"].values].any()
    assert not (v & ~tiny_case["smap_quality"]).any()


def test_missing_variable(tiny_case):
    with pytest.raises(CaseError, match="'noah'.*missing"):
        validate_case(tiny_case.drop_vars("noah"))


def test_wrong_dims(tiny_case):
    bad = tiny_case.copy()
    bad["smap"] = bad["smap"].transpose("y", "time", "x")
    with pytest.raises(CaseError, match="'smap'.*dims"):
        validate_case(bad)


def test_kg_m2_values_detected(tiny_case):
    bad = tiny_case.copy()
    bad["noah"] = bad["noah"] * 100.0
    with pytest.raises(CaseError, match="'noah'.*outside \\[0, 1\\].*kg m-2"):
        validate_case(bad)


def test_noah_gap_over_land(tiny_case):
    bad = tiny_case.copy(deep=True)
    land = bad["land"].values
    r, c = np.argwhere(land)[0]
    bad["noah"].values[3, r, c] = np.nan
    with pytest.raises(CaseError, match="'noah'.*1 missing values over land"):
        validate_case(bad)


def test_duplicate_and_unordered_times(tiny_case):
    dup = tiny_case.isel(time=[0, 1, 1, 2])
    with pytest.raises(CaseError, match="duplicate time"):
        validate_case(dup)
    rev = tiny_case.isel(time=[2, 1, 0])
    with pytest.raises(CaseError, match="not increasing"):
        validate_case(rev)


def test_wrong_units(tiny_case):
    bad = tiny_case.copy()
    bad["smap"] = bad["smap"].copy()
    bad["smap"].attrs = dict(bad["smap"].attrs, units="kg m-2")
    with pytest.raises(CaseError, match="units 'kg m-2'"):
        validate_case(bad)


def test_land_must_be_bool(tiny_case):
    bad = tiny_case.copy()
    bad["land"] = bad["land"].astype("int8")
    with pytest.raises(CaseError, match="'land'.*bool"):
        validate_case(bad)
