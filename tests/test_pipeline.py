"""The main job end to end on the tiny twin, the report, and the CLI's one-line errors."""

import json
import os
from html.parser import HTMLParser

import pytest
import xarray as xr

from stsg_bench.cli import main
from stsg_bench.fusion import get_config


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert (
        main(
            [
                "demo",
                "--out",
                str(out),
                "--preset",
                "tiny",
                "--methods",
                "noah_raw",
                "smap_only",
                "lin_cdf_match",
                "starfm",
                "drcgan",
            ]
        )
        == 0
    )
    return out


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory):
    """`run` with ``seeds = 2`` (DrcGAN's seed ensemble) on the tiny twin, DrcGAN at the test preset: the
    ensemble, its members and spread, both product modes and the report's seed table, at a small cost."""
    d = tmp_path_factory.mktemp("seeds")
    cfg = d / "run.toml"
    cfg.write_text(
        'dataset = "twin-tiny"\nmethods = ["noah_raw", "smap_only", "lin_cdf_match", "drcgan"]\nseeds = 2\n'
        '[method_config.drcgan]\npreset = "test"\nsteps = 40\nval_every = 10\n'
    )
    assert main(["run", str(cfg), "--out", str(d / "out")]) == 0
    return d / "out"


@pytest.mark.slow  # the demo fixture trains DrcGAN at the demo preset (~50 s)
def test_demo_outputs(demo):
    res = xr.open_dataset(demo / "results.nc")
    assert set(res["reference"].values) == {
        "insitu",
        "truth",
        "hidden_smap",
        "insitu_same",
        "truth_same",
        "hidden_smap_same",
    }
    assert res.attrs["Conventions"] == "CF-1.8"
    # same samples: every filled product has the same n; SMAP alone shares them on SMAP-valid days
    n = res["n"].sel(reference="insitu_same", group="pooled", window="all")
    filled = [m for m, k in zip(res["product"].values, res["method_kind"].values) if k != "observation"]
    assert len({int(n.sel({"product": m, "split": "all"})) for m in filled}) == 1
    assert len({int(v) for v in n.sel(split="smap_valid").values}) == 1
    assert int(n.sel({"product": "smap_only", "split": "all"})) < int(n.sel({"product": filled[0], "split": "all"}))
    for name in (
        "paper",
        "scorecard",
        "coverage",
        "decomposition",
        "rank",
        "tcol",
        "windows",
        "gap_aware",
        "truth",
        "gap_age",
        "simulated_gaps",
        "networks",
        "station_median",
        "model_wins",
    ):
        for ext in ("md", "tex", "csv", "html"):
            assert (demo / "report" / "tables" / f"{name}.{ext}").stat().st_size > 0
    for fig in ("maps", "station_map", "scorecard", "station_series", "taylor", "gap_age"):
        assert (demo / "report" / "figures" / f"{fig}.png").stat().st_size > 1000
    # box plots only for networks of >= 3 scored stations: the tiny twin's networks have fewer
    networks = [str(g).split(":", 1)[1].split("/")[0] for g in res["group"].values if str(g).startswith("station:")]
    drawn = max((networks.count(n) for n in set(networks)), default=0) >= 3
    assert (demo / "report" / "figures" / "network_boxplots.png").exists() == drawn
    assert list(res["window"].values) == ["all", "DJF", "MAM", "JJA", "SON"]
    # the gap-age bins partition the truth gap split
    truth = res["n"].sel(reference="truth", group="pooled", window="all").sel({"product": "drcgan"})
    bins = [s for s in res["split"].values if str(s).startswith("gap_age:")]
    assert len(bins) == 6 and int(truth.sel(split=bins).sum()) == int(truth.sel(split="smap_gap"))
    tex = (demo / "report" / "tables" / "paper.tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex
    prod = xr.open_dataset(demo / "products" / "drcgan.nc")
    assert prod["sm"].attrs["units"] == "m3 m-3" and prod.attrs["Conventions"] == "CF-1.8"
    info = json.loads(res.attrs["methods"])["drcgan"]
    steps = get_config("demo").optimiser.steps
    assert info["steps"] == steps and info["seeds"] == 1 and 0 < info["selected_step"] <= steps
    curves = json.loads(res.attrs["training_curves"])["drcgan"]
    assert len(curves) == 1 and curves[0][-1]["step"] == steps
    stages = json.loads(res.attrs["stage_seconds"])  # the per-stage times docs/running.md tabulates
    assert {"twin", "fit+predict drcgan", "simulated gaps drcgan", "scoring"} <= set(stages)
    assert all(v >= 0 for v in stages.values())


@pytest.mark.slow  # trains DrcGAN twice (test preset) in a full run
def test_seeds_paper_mode_and_training_curves(seeds_run):
    """seeds = 2: members scored and summarised (mean ± sd), the ensemble spread written as a CF
    ancillary variable; the seamless paper-mode product checked against SMAP; curves plotted."""
    demo = seeds_run
    res = xr.open_dataset(demo / "results.nc")
    assert {"drcgan:paper", "drcgan:seed0", "drcgan:seed1"} <= set(res["product"].values)
    prod = xr.open_dataset(demo / "products" / "drcgan.nc")
    assert prod["sm"].attrs["ancillary_variables"] == "sm_spread sm_flag"
    assert float(prod["sm_spread"].max()) > 0
    assert xr.open_dataset(demo / "products" / "drcgan.paper.nc")["sm"].attrs["product_mode"] == "paper"
    seeds = (demo / "report" / "tables" / "seeds.md").read_text()
    assert "| drcgan | 2 |" in seeds and "±" in seeds
    paper = (demo / "report" / "tables" / "paper_mode.csv").read_text()
    assert "drcgan:paper" in paper and "published" in paper and "margin" not in paper
    assert "RMSE vs truth, product" in paper  # on the twin: what paper mode measures, against the truth
    main_table = (demo / "report" / "tables" / "paper.csv").read_text()
    assert "drcgan:seed0" not in main_table and "drcgan:paper" in main_table
    assert (demo / "report" / "figures" / "training.png").stat().st_size > 1000
    curves = json.loads(res.attrs["training_curves"])["drcgan"]
    assert len(curves) == 2 and all(c[-1]["step"] == 40 for c in curves)


class _Page(HTMLParser):
    """Collects what the report page holds: ids, links, images, tables and captions."""

    def __init__(self):
        super().__init__()
        self.ids, self.links, self.imgs, self.tables, self.captions = set(), [], [], 0, []
        self._in_caption = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for key in ("src", "href"):
            if key in a:
                self.links.append(a[key])
        self.imgs += [a["src"]] if tag == "img" else []
        self.tables += tag == "table"
        self._in_caption = tag in ("caption", "figcaption")

    def handle_endtag(self, tag):
        self._in_caption = self._in_caption and tag not in ("caption", "figcaption")

    def handle_data(self, data):
        if self._in_caption:
            self.captions.append(data)


@pytest.mark.slow  # the demo fixture trains DrcGAN at the demo preset (~55 s)
def test_report_page_is_self_contained(demo):
    """index.html: every table of tables/ and every figure of figures/ is on the page, images embedded,
    no reference to a file outside the page, a working table of contents, every metric defined and the
    number of samples given with the figures."""
    report = demo / "report"
    text = (report / "index.html").read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    assert all(link.startswith(("data:image/png;base64,", "#")) for link in page.links), "external reference"
    tables = sorted(p.stem for p in (report / "tables").glob("*.csv"))
    for key in tables:
        assert f"table-{key}" in page.ids, key
    assert page.tables >= len(tables) + 1  # + the definitions
    pngs = sorted(p.stem for p in (report / "figures").glob("*.png"))
    assert len(page.imgs) == len(pngs) and all(i.startswith("data:image/png;base64,") for i in page.imgs)
    for key in ("scorecard", "map", "series", "taylor"):
        assert f"fig-{key}" in page.ids
    assert all(link[1:] in page.ids for link in page.links if link.startswith("#"))
    from stsg_bench.validation.metrics import METRICS

    for name in METRICS:
        assert f"<th>{name}</th>" in text, name
    assert any("n = " in c and "station-days" in c for c in page.captions)
    assert "Notes of the run" in text and "id='notes'" in text
    assert text.index("table-paper") < text.index("table-scorecard") < text.index("table-coverage")


@pytest.mark.slow  # the demo fixture trains DrcGAN at the demo preset (~55 s)
def test_report_command_rerenders(demo, tmp_path):
    assert main(["report", str(demo / "results.nc"), "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "index.html").exists()


@pytest.mark.slow  # the demo fixture trains DrcGAN at the demo preset (~55 s)
def test_score_and_fuse_commands(demo, tmp_path):
    case = demo / "case.nc"
    assert (
        main(
            [
                "fuse",
                "--method",
                "mean_std",
                "--case",
                str(case),
                "--out",
                str(tmp_path / "p.nc"),
                "--period",
                "2017-03-01",
                "2017-04-30",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "score",
                "--case",
                str(case),
                "--products",
                str(tmp_path / "p.nc"),
                "--insitu",
                str(demo / "twin" / "ismn"),
                "--out",
                str(tmp_path / "r.nc"),
            ]
        )
        == 0
    )
    res = xr.open_dataset(tmp_path / "r.nc")
    assert "mean_std" in res["product"].values


@pytest.mark.slow  # the demo fixture trains DrcGAN at the demo preset (~55 s)
def test_fuse_predicts_the_test_period_unless_asked_for_all(demo, tmp_path):
    """In-sample days never mix into a product by default: ``fuse`` predicts the days after the training
    period; ``--period all`` predicts every day; a bad --period is one line naming it."""
    case = demo / "case.nc"
    times = xr.open_dataset(case).indexes["time"]
    end = xr.open_dataset(case).attrs["train_end"]
    base = ["fuse", "--method", "noah_raw", "--case", str(case)]
    assert main([*base, "--out", str(tmp_path / "test.nc")]) == 0
    t = xr.open_dataset(tmp_path / "test.nc").indexes["time"]
    assert str(t[0].date()) > end and t[-1] == times[-1] and len(t) == int((times > end).sum())
    assert main([*base, "--out", str(tmp_path / "all.nc"), "--period", "all"]) == 0
    assert xr.open_dataset(tmp_path / "all.nc").indexes["time"].equals(times)
    assert main([*base, "--out", str(tmp_path / "x.nc"), "--period", "2017-01-01"]) == 2
    assert not (tmp_path / "x.nc").exists()


@pytest.mark.slow  # the demo fixture trains DrcGAN at the demo preset (~55 s)
def test_train_then_fuse_with_checkpoint(demo, tmp_path):
    case = demo / "case.nc"
    cfg = tmp_path / "c.toml"
    cfg.write_text('method = "drcgan"\n[config]\npreset = "test"\nsteps = 2\n')
    assert main(["train", "--case", str(case), "--config", str(cfg), "--out", str(tmp_path / "m.pt")]) == 0
    assert (
        main(
            [
                "fuse",
                "--method",
                "drcgan",
                "--case",
                str(case),
                "--checkpoint",
                str(tmp_path / "m.pt"),
                "--out",
                str(tmp_path / "d.nc"),
            ]
        )
        == 0
    )
    assert xr.open_dataset(tmp_path / "d.nc")["sm"].attrs["method"] == "drcgan"


@pytest.mark.slow  # the demo fixture trains DrcGAN at the demo preset (~55 s)
def test_results_from_other_version_is_one_line(demo, tmp_path, capsys):
    res = xr.open_dataset(demo / "results.nc").load()
    res.attrs["results_version"] = 0
    res.to_netcdf(tmp_path / "old.nc")
    assert main(["report", str(tmp_path / "old.nc"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "old.nc" in err and "another stsg-bench version" in err and "\n" not in err
    assert not (tmp_path / "r").exists()  # nothing half-written


def test_unknown_method_and_dataset_in_config(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text('dataset = "twin-tiny"\nmethods = ["noah_raw", "magic"]\n')
    assert main(["run", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "unknown method 'magic'" in capsys.readouterr().err
    cfg.write_text('dataset = "atlantis"\n')
    assert main(["run", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "unknown dataset card 'atlantis'" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    assert main(["twin", "--preset", "tiny", "--out", str(ro / "x")]) == 2


@pytest.mark.slow  # the demo fixture trains DrcGAN at the demo preset (~55 s)
def test_unwritable_output_file_parent_is_a_file(tmp_path, capsys, demo):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["report", str(demo / "results.nc"), "--out", str(blocker / "report")]) == 2
    assert "cannot create output folder" in capsys.readouterr().err


@pytest.mark.slow  # the demo fixture trains DrcGAN at the demo preset (~55 s)
def test_gap_age_figure_draws_equal_products_as_one_line(demo):
    """A paper-mode companion scores exactly like its gap-filled product in the gaps: one shared line."""
    import numpy as np

    from stsg_bench.reports.figures import same_rows

    rows = {"a": np.array([1.0, np.nan, 3.0]), "b": np.array([2.0, 2.0, 2.0]), "a:paper": np.array([1.0, np.nan, 3.0])}
    assert same_rows(rows) == [["a", "a:paper"], ["b"]]
    assert same_rows({"a": np.array([1.0]), "c": np.array([1.001])}) == [["a"], ["c"]]
    res = xr.open_dataset(demo / "results.nc")
    gaps = res["value"].sel(reference="truth", group="pooled", split="gap_age:1", metric="RMSE", window="all")
    paper = float(gaps.sel({"product": "drcgan:paper"}))
    assert float(gaps.sel({"product": "drcgan"})) == pytest.approx(paper, rel=1e-6)
