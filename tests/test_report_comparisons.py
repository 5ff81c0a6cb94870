"""The report's comparisons: station-level headline, paired table with the best trivial baseline,
identical products collapsed, degenerate triple collocation flagged (tiny twin, numpy methods)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from stsg_bench.cards import build_bundle
from stsg_bench.reports.comparisons import headline_table, paired_table, reference_product, station_data
from stsg_bench.reports.tables import collapse_identical, identical_products, paper_table, tc_degenerate
from stsg_bench.validation import open_results
from stsg_bench.workflows.chain import RunConfig, run_chain

METHODS = ["noah_raw", "smap_only", "lin_cdf_match", "persistence", "temporal_mean"]


@pytest.fixture(scope="module")
def res(tmp_path_factory) -> xr.Dataset:
    out = tmp_path_factory.mktemp("cmp")
    cfg = RunConfig(dataset="twin-tiny", methods=METHODS, report=False, simulated_gaps=False)
    run_chain(build_bundle("twin-tiny"), out, cfg)
    return open_results(out / "results.nc")


def test_headline_has_pooled_and_station_level_scores(res):
    df, caption = headline_table(res, n_boot=50)
    assert "smap_only" not in df.index  # observation-only products are compared pairwise, not here
    assert {"R pooled", "R station mean [95% CI]", "R station median"} <= set(df.columns)
    assert "stations in" in caption and "EASE2 cells" in caption
    assert ("rankings disagree" in caption) or ("rankings agree" in caption)
    data = station_data(res)
    mask = data.common()
    # the station median of lin_cdf_match's R recomputed directly from the stored series
    a, r = data.series("lin_cdf_match"), data.insitu
    per = []
    for s in range(a.shape[0]):
        m = mask[s]
        if m.sum() >= 3:
            per.append(np.corrcoef(a[s, m], r[s, m])[0, 1])
    assert float(df.loc["lin_cdf_match", "R station median"]) == pytest.approx(np.median(per), abs=1e-4)


def test_paired_table_against_the_best_trivial_baseline(res):
    df, caption, base = paired_table(res, n_boot=50)
    assert base == reference_product(res, station_data(res)) and base in ("persistence", "temporal_mean")
    assert base not in df.index and "lin_cdf_match" in df.index
    assert "best trivial baseline" in caption and "p-value" in caption
    p = df["p (R)"].replace("–", np.nan).astype(float)
    assert ((p > 0) & (p <= 1)).all()


def test_identical_products_collapse_into_one_row(res):
    twin = res.copy(deep=True)
    extra = twin.sel({"product": ["lin_cdf_match"]}).assign_coords(product=["lin_cdf_match_copy"])
    both = xr.concat([twin[["value", "n"]], extra[["value", "n"]]], dim="product")
    groups = identical_products(both)
    assert groups == [["lin_cdf_match", "lin_cdf_match_copy"]]
    df = paper_table(res)
    df.loc["lin_cdf_match_copy"] = df.loc["lin_cdf_match"]
    out = collapse_identical(df, both, groups)
    assert "lin_cdf_match = lin_cdf_match_copy" in out.index and "lin_cdf_match" not in out.index


def test_degenerate_triple_collocation_is_flagged(res):
    r = res.copy(deep=True)
    if "TC_SNR" not in r["metric"].values:
        pytest.skip("no triple collocation in these results")
    sel = {"product": "lin_cdf_match", "reference": "insitu", "group": "pooled", "split": "all", "window": "all"}
    for k, v in (("TC_SNR", -38.3), ("TC_err", 0.4), ("TC_beta", 5.8)):
        r["value"].loc[{**sel, "metric": k}] = v
        r["ci_lower"].loc[{**sel, "metric": k}] = -38.1 if k == "TC_SNR" else v - 0.1
        r["ci_upper"].loc[{**sel, "metric": k}] = -18.5 if k == "TC_SNR" else v + 0.1
    assert "outside its bootstrap CI" in tc_degenerate(r, "lin_cdf_match", "insitu", "all")
    r["ci_lower"].loc[{**sel, "metric": "TC_SNR"}] = -40.0
    assert "SNR magnitude 38.3 dB > 30 dB" in tc_degenerate(r, "lin_cdf_match", "insitu", "all")


def test_product_identity_comes_from_attributes_not_names(tiny_twin):
    """Seed members, product modes, ablations and the centrepiece are read from the products' attributes
    (results coordinates), whatever the products are called."""
    from stsg_bench.methods import get_method
    from stsg_bench.reports.figures import main_products
    from stsg_bench.reports.tables import members, whole_period, without_members
    from stsg_bench.validation import evaluate, standard_references

    tiny_case = tiny_twin.case
    test = ("2017-03-01", "2017-04-30")
    case = tiny_case.sel(time=slice(*test))
    base = get_method("lin_cdf_match").fit(tiny_case, ("2017-01-01", "2017-02-28")).predict(tiny_case, test)
    noah = get_method("noah_raw").predict(tiny_case, test)
    centre = (base * 0.98).assign_attrs({**base.attrs, "method": "fusion", "base_method": "fusion", "centrepiece": 1})
    member = (base * 0.97).assign_attrs({**base.attrs, "method": "first", "base_method": "fusion", "seed_member": 0})
    ablated = (base * 0.99).assign_attrs({**base.attrs, "method": "fusion_lite", "ablation_of": "fusion"})
    products = {"noah_raw": noah, "lin_cdf_match": base, "fusion": centre, "first": member, "fusion_lite": ablated}
    res = evaluate(products, case, standard_references(case, tiny_twin.stations)).results
    assert members(res) == {"first": "fusion"}
    assert "first" not in without_members(res)["product"].values
    main, baseline, _ = main_products(whole_period(res))
    assert main == "fusion" and baseline == "lin_cdf_match"  # the ablation is never the baseline


def test_scorecard_compares_only_samples_both_products_have(res):
    """SMAP alone is the reference only where it has values (smap_valid); the all and smap_gap columns
    compare with the best trivial baseline, on the same samples, and the values are those differences."""
    from stsg_bench.reports.scorecard import gap_reference_product, scorecard
    from stsg_bench.reports.tables import scored_reference, whole_period

    gain, _, base = scorecard(res)
    gap = gap_reference_product(res)
    assert base == "smap_only" and gap in ("persistence", "temporal_mean")
    assert "ubRMSE (smap_valid)" in gain.columns
    assert f"ubRMSE (all vs {gap})" in gain.columns and f"ubRMSE (smap_gap vs {gap})" in gain.columns
    assert "ubRMSE (all)" not in gain.columns  # SMAP's 'all' samples are not the filled products'
    assert np.isnan(gain.loc["smap_only", f"ubRMSE (all vs {gap})"])  # nor is its share comparable there
    sub = whole_period(res).sel(reference=scored_reference(res, "insitu"), group="pooled", metric="ubRMSE")
    for split, against, col in (("all", gap, f"ubRMSE (all vs {gap})"), ("smap_valid", base, "ubRMSE (smap_valid)")):
        v = sub.sel(split=split)["value"]
        want = float(v.sel(product=against)) - float(v.sel(product="lin_cdf_match"))  # lower is better
        assert float(gain.loc["lin_cdf_match", col]) == pytest.approx(want, abs=1e-12)
