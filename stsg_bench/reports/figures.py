"""Report figures (matplotlib, Agg backend, deterministic file names): maps of one day, station time
series with every product, a Taylor diagram, per-network box plots of station metrics and the score
against truth by gap age."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.projections.polar import PolarAxes  # noqa: E402

from ..case import valid_smap  # noqa: E402
from ..validation.score import GAP_AGE_SPLITS  # noqa: E402
from .tables import product_label, scored_reference  # noqa: E402

GAP_CMAP = ListedColormap(["white", "0.9"])  # SMAP gap days shaded
#: Okabe & Ito's colour-blind-safe palette (black left for in situ), and markers to cycle against it
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#999999")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")


def product_styles(names) -> dict[str, dict[str, Any]]:
    """A distinct (colour, marker, line style) per product, in the results' product order, the same in
    every figure: colours cycle through :data:`PALETTE` (no two of the first 8 products share one); each
    later pass through it shifts the markers and changes the line style, so no two products look alike
    (up to 80)."""
    out: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(names):
        cycle = k // len(PALETTE)
        out[str(name)] = {
            "color": PALETTE[k % len(PALETTE)],
            "marker": MARKERS[(k + cycle) % len(MARKERS)],
            "linestyle": ("-", "--", ":", "-.")[cycle % 4],
        }
    return out


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


def median_coverage_day(case: xr.Dataset, times) -> object:
    """The day of ``times`` with the median SMAP coverage (the maps' day)."""
    cov = valid_smap(case.sel(time=times)).mean(("y", "x")).values
    return times[int(np.argsort(cov)[len(cov) // 2])]


def maps_figure(case: xr.Dataset, products: dict[str, xr.DataArray], path: Path, day=None) -> Path:
    """SMAP with its gaps, Noah, each product (and truth on the twin) on one day."""
    if day is None:
        day = median_coverage_day(case, next(iter(products.values())).indexes["time"])
    panels = [
        ("SMAP (usable)", case["smap"].sel(time=day).where(valid_smap(case).sel(time=day))),
        ("Noah", case["noah"].sel(time=day)),
    ]
    if "truth" in case:
        panels.append(("truth", case["truth"].sel(time=day)))
    panels += [(name, p.sel(time=day)) for name, p in products.items()]
    ncol = min(4, len(panels))
    nrow = -(-len(panels) // ncol)
    lon, lat, land = case["lon"].values, case["lat"].values, case["land"].values.astype(float)
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(3.3 * ncol, 2.9 * nrow), squeeze=False, sharex=True, sharey=True, layout="constrained"
    )
    for ax in axes.ravel()[len(panels) :]:
        ax.set_axis_off()
    for ax, (title, da) in zip(axes.ravel(), panels):
        im = ax.pcolormesh(lon, lat, da.values, vmin=0.0, vmax=0.5, cmap="YlGnBu", shading="nearest")
        if 0 < land.mean() < 1:  # the coast: the outline of the case's land cells
            ax.contour(lon, lat, land, levels=[0.5], colors="0.25", linewidths=0.6)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_aspect(1.0 / np.cos(np.radians(float(np.nanmean(lat)))))
    for ax in axes[-1, :]:
        ax.set_xlabel("longitude (°E)", fontsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("latitude (°N)", fontsize=7)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.7, label="soil moisture (m³ m⁻³)")
    fig.suptitle(f"{str(day)[:10]} (grey line: the case's land outline)", fontsize=10)
    return _save(fig, path)


def main_products(res: xr.Dataset) -> tuple[str | None, str | None, str | None]:
    """(fused product, baseline, SMAP) for the station panels: DrcGAN when scored (else the first gap
    filler), the gap filler with the lowest pooled in-situ ubRMSE among the others (not its ablations,
    seed members or product modes), and SMAP alone."""
    names = [str(m) for m in res["product"].values]

    def coord(key: str, default: Any) -> dict[str, Any]:
        values = res[key].values.tolist() if key in res.coords else [default] * len(names)
        return dict(zip(names, values, strict=True))

    kinds, modes, seeds = coord("method_kind", ""), coord("product_mode", ""), coord("seed_member", -1)
    ablation, centre = coord("ablation_of", ""), coord("centrepiece", 0)
    if "seed_member" in res.coords:  # products of their own: no seed member, no other product mode
        own = [m for m in names if seeds[m] < 0 and modes[m] in ("", "gapfill")]
    else:  # results written before version 3: by name (NAME:TAG companions)
        own = [m for m in names if ":" not in m]
    fillers = [m for m in own if kinds[m] == "gap_filler"]
    smap = next((m for m in names if kinds[m] == "observation"), None)
    main = next((m for m in fillers if centre[m]), fillers[0] if fillers else None)
    if "centrepiece" not in res.coords and "drcgan" in fillers:
        main = "drcgan"
    legacy = "ablation_of" not in res.coords
    others = [m for m in fillers if m != main and not ablation[m] and not (legacy and m.startswith(f"{main}_"))]
    base = None
    if others and "insitu" in res["reference"].values:
        ub = res["value"].sel(reference=scored_reference(res, "insitu"), group="pooled", split="all", metric="ubRMSE")
        scores = {m: float(ub.sel({"product": m})) for m in others}
        finite = {m: v for m, v in scores.items() if np.isfinite(v)}
        base = min(finite, key=finite.__getitem__) if finite else others[0]
    return main, base, smap


def station_series_figure(res: xr.Dataset, path: Path, max_stations: int = 12) -> Path | None:
    """Small multiples, one panel per station (at most ``max_stations``, those with the most in-situ
    days): in-situ daily means, SMAP, the fused product and one baseline (:func:`main_products`) over
    the product period, SMAP gap days shaded."""
    if "product_series" not in res:
        return None
    counts = np.isfinite(res["insitu_series"].values).sum(axis=1)
    ok = [i for i in np.argsort(-counts, kind="stable") if counts[i] > 20][:max_stations]
    if not ok:
        return None
    main, base, smap = main_products(res)
    names = [str(m) for m in res["product"].values]
    styles = product_styles(names)
    series = res["product_series"].values
    t = res["series_time"].values
    prod_t = np.isfinite(series).any(axis=(0, 1))
    ncol = min(3, len(ok))
    nrow = -(-len(ok) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 2.3 * nrow), squeeze=False, sharex=True, sharey=True)
    for ax in axes.ravel()[len(ok) :]:
        ax.set_axis_off()
    shown = [res["insitu_series"].values[ok][:, prod_t]] + [
        series[names.index(m)][ok][:, prod_t] for m in (main, base, smap) if m
    ]
    lo, hi = (float(f(np.concatenate([a.ravel() for a in shown]))) for f in (np.nanmin, np.nanmax))
    ylim = (max(0.0, lo - 0.03), hi + 0.03)
    for ax, i in zip(axes.ravel(), ok):
        tt = t[prod_t]
        if smap is not None:  # gap days as one background image (one artist, fast to draw)
            gap = ~np.isfinite(series[names.index(smap), i][prod_t])
            x0, x1 = mdates.date2num(tt[0]) - 0.5, mdates.date2num(tt[-1]) + 0.5
            ax.imshow(gap[None, :], extent=(x0, x1, *ylim), aspect="auto", cmap=GAP_CMAP, vmin=0, vmax=1, zorder=0)
        ax.plot(tt, res["insitu_series"].values[i][prod_t], "k.", ms=2, label="in situ")
        if smap is not None:
            colour = styles[smap]["color"]
            ax.plot(tt, series[names.index(smap), i][prod_t], ".", color=colour, ms=2.5, label=f"{smap} (SMAP)")
        for name in (main, base):
            if name is not None:
                ax.plot(tt, series[names.index(name), i][prod_t], lw=0.9, color=styles[name]["color"], label=name)
        n = int(np.isfinite(res["insitu_series"].values[i][prod_t]).sum())
        net, station, sensor = (str(res["station"].values[i]).split("/", 2) + ["", ""])[:3]
        probe = sensor.rsplit("_", 2)[0]  # the sensor name without its depths
        ax.set_title(f"{net}/{station} …{probe[-14:]} (n {n})", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.tick_params(axis="x", rotation=30)
    axes[0, 0].set_ylim(*ylim)
    for ax in axes[:, 0]:
        ax.set_ylabel("soil moisture (m³ m⁻³)", fontsize=7)
    for ax in axes[-1, :]:
        ax.set_xlabel("date", fontsize=7)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, 1.02))
    fig.text(0.5, -0.05, "grey: SMAP gap days in the station's cell", ha="center", fontsize=7)
    return _save(fig, path)


def station_map_figure(res: xr.Dataset, case: xr.Dataset, path: Path, metric: str = "ubRMSE") -> Path | None:
    """The fused product's per-station ``metric`` (in-situ, whole period) at the station locations over
    the case window's land mask; stations not scored as open circles."""
    main, _, _ = main_products(res)
    stations = [f"station:{s}" for s in res["station"].values] if "station" in res.coords else []
    stations = [g for g in stations if g in res["group"].values]
    if main is None or not stations or "insitu" not in res["reference"].values:
        return None
    vals = (
        res["value"].sel({"product": main}).sel(reference="insitu", split="all", metric=metric, group=stations).values
    )
    lat, lon = res["station_lat"].values, res["station_lon"].values
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    land = case["land"].values.astype(float)
    ax.pcolormesh(case["lon"].values, case["lat"].values, np.where(land > 0, 1.0, np.nan), cmap="Greys", vmin=0, vmax=4)
    ok = np.isfinite(vals)
    sc = ax.scatter(lon[ok], lat[ok], c=vals[ok], cmap="viridis_r", s=36, edgecolor="k", lw=0.5)
    ax.scatter(lon[~ok], lat[~ok], facecolor="none", edgecolor="0.3", s=30, lw=0.8, label="not scored")
    units = str(res["metric_units"].sel(metric=metric).values).replace("m3 m-3", "m³ m⁻³")
    fig.colorbar(sc, ax=ax, label=f"{main} station {metric} ({units})")
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_title(f"{main}: {metric} at {int(ok.sum())} of {len(vals)} stations (grey: land cells)", fontsize=9)
    if (~ok).any():
        ax.legend(fontsize=7, loc="lower left")
    return _save(fig, path)


def scorecard_figure(gain, sig, base: str, path: Path) -> Path | None:
    """The scorecard as a heat map: gain over ``base`` per product and metric (split), each column
    scaled by its largest difference; '*' where significant."""
    if gain.empty:
        return None
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column (e.g. SMAP in its gaps)
        scale = np.nanmax(np.abs(gain.values), axis=0)
        z = gain.values / np.where(scale > 0, scale, np.nan)
    fig, ax = plt.subplots(figsize=(0.9 * gain.shape[1] + 2.5, 0.38 * gain.shape[0] + 1.6))
    ax.imshow(np.nan_to_num(z, nan=0.0), cmap="RdYlGn", vmin=-1, vmax=1, aspect="auto")
    for (i, j), g in np.ndenumerate(gain.values):
        if np.isfinite(g):
            ax.text(j, i, f"{g:+.3f}{'*' if sig.values[i, j] else ''}", ha="center", va="center", fontsize=6.5)
    ax.set_xticks(range(gain.shape[1]), gain.columns, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(gain.shape[0]), gain.index, fontsize=7)
    ax.set_title(f"Gain over {base} (green better; metric units; * CIs do not overlap)", fontsize=9)
    return _save(fig, path)


def taylor_figure(res: xr.Dataset, path: Path) -> Path | None:
    """Taylor diagram of the pooled in-situ matches (normalised standard deviation vs correlation), with
    arcs of equal normalised centred RMS difference around the reference point."""
    if "product_series" not in res:
        return None
    ref = res["insitu_series"].values
    fig = plt.figure(figsize=(5, 4.5))
    ax = fig.add_subplot(projection="polar")
    assert isinstance(ax, PolarAxes)
    ax.set_thetamin(0)
    ax.set_thetamax(90)
    ax.plot([0], [1.0], "k*", ms=12, label="in situ")
    sds, counts, points = [1.0], [], {}
    names = [str(m) for m in res["product"].values]
    styles = product_styles(names)
    for m, name in enumerate(names):
        p = res["product_series"].values[m]
        ok = np.isfinite(p) & np.isfinite(ref)
        if ok.sum() < 10:
            continue
        r = np.corrcoef(p[ok], ref[ok])[0, 1]
        sd = p[ok].std() / ref[ok].std()
        sds.append(sd)
        counts.append(int(ok.sum()))
        points[name] = np.array([r, sd])
    for group in same_rows(points, rtol=1e-9):  # identical products: one point, one legend entry
        r, sd = points[group[0]]
        label = " = ".join(product_label(res, g) for g in group)
        st = {**styles[group[0]], "linestyle": "none"}
        ax.plot([np.arccos(np.clip(r, 0, 1))], [sd], ms=6, mec="k", mew=0.4, label=label, **st)
    rmax = max(1.5, 1.1 * max(sds))
    ax.set_rmax(rmax)
    # centred RMS difference (normalised): E'^2 = 1 + s^2 - 2 s R, circles around the reference point
    theta, rho = np.meshgrid(np.linspace(0, np.pi / 2, 91), np.linspace(0, rmax, 80))
    crms = np.sqrt(1.0 + rho**2 - 2.0 * rho * np.cos(theta))
    arcs = ax.contour(theta, rho, crms, levels=[0.25, 0.5, 0.75, 1.0, 1.25], colors="0.6", linewidths=0.7)
    ax.clabel(arcs, fontsize=6, fmt="%.2g")
    corr = np.array([0.0, 0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99])
    ax.set_thetagrids(np.degrees(np.arccos(corr)), labels=[f"{c:g}" for c in corr], fontsize=7)
    ax.text(np.radians(52), ax.get_rmax() * 1.12, "correlation", rotation=-38, ha="center", fontsize=8)
    ax.set_ylabel("normalised standard deviation", labelpad=22)
    n = f", n {min(counts):,}–{max(counts):,} station-days" if counts else ""
    ax.set_title(f"Taylor diagram (pooled in-situ{n}); grey arcs: normalised centred RMS", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.08, 1.0), ncol=1 if len(points) <= 14 else 2)
    return _save(fig, path)


#: the fewest stations a box plot is drawn for (fewer: the table lists them)
MIN_BOX_STATIONS = 3


def network_boxplot_figure(res: xr.Dataset, path: Path, metric: str = "ubRMSE") -> Path | None:
    """Per network with at least :data:`MIN_BOX_STATIONS` scored stations: each product's station
    ``metric`` as a box (coloured as in every figure), the number of stations in the panel's title.
    None when no network has that many (a box of one or two stations says nothing)."""
    stations = [str(g) for g in res["group"].values if str(g).startswith("station:")]
    if not stations:
        return None
    ref = scored_reference(res, "insitu")
    value = res["value"].sel(window="all") if "window" in res["value"].dims else res["value"]
    vals = value.sel(reference=ref, group=stations, split="all", metric=metric).values  # (product, station)
    names = [str(m) for m in res["product"].values]
    styles = product_styles(names)
    panels: list[tuple[str, list[int], int]] = []
    left_out: list[tuple[str, list[int], int]] = []
    for net in sorted({s.split(":", 1)[1].split("/")[0] for s in stations}):
        cols = [i for i, s in enumerate(stations) if s.split(":", 1)[1].startswith(net + "/")]
        scored = int(np.isfinite(vals[:, cols]).any(axis=0).sum())
        (panels if scored >= MIN_BOX_STATIONS else left_out).append((net, cols, scored))
    if not panels:
        return None
    units = str(res["metric_units"].sel(metric=metric).values) if "metric_units" in res.coords else ""
    fig, axes = plt.subplots(
        1, len(panels), figsize=(max(4.5, 0.45 * len(names) * len(panels) + 1.5), 3.6), squeeze=False, sharey=True
    )
    for ax, (net, cols, scored) in zip(axes[0], panels):
        data = [v[np.isfinite(v)] for v in vals[:, cols]]
        box = ax.boxplot(
            data,
            tick_labels=[product_label(res, m) for m in names],
            patch_artist=True,
            widths=0.6,
            medianprops={"color": "k"},
        )
        for patch, name in zip(box["boxes"], names):
            patch.set_facecolor(styles[name]["color"])
            patch.set_alpha(0.75)
        ax.set_title(f"{net}: {scored} stations", fontsize=9)
        ax.tick_params(axis="x", rotation=60, labelsize=7)
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].set_ylabel(f"station {metric} ({units.replace('m3 m-3', 'm³ m⁻³')})", fontsize=8)
    if left_out:
        few = ", ".join(f"{net} ({n} station{'s' if n != 1 else ''})" for net, _, n in left_out)
        fig.suptitle(f"not drawn, fewer than {MIN_BOX_STATIONS} scored stations: {few}", fontsize=7, y=0.0)
    return _save(fig, path)


def same_rows(rows: dict[str, np.ndarray], rtol: float = 1e-6) -> list[list[str]]:
    """Names grouped by equal values (to ``rtol``, NaN equal to NaN), in first-seen order: products
    that score the same — a ``:paper`` companion in the gaps, where it is its gap-filled product — share
    one line and one legend entry."""
    groups: list[list[str]] = []
    for name, y in rows.items():
        same = [g for g in groups if np.allclose(rows[g[0]], y, rtol=rtol, atol=0, equal_nan=True)]
        if same:
            same[0].append(name)
        else:
            groups.append([name])
    return groups


def gap_age_figure(res: xr.Dataset, path: Path, metric: str = "RMSE") -> Path | None:
    """``metric`` against truth per gap-age bin, one line per product (same samples when available);
    the n of each bin on the x axis labels. None when the results have no gap-age splits."""
    bins = [s for s in GAP_AGE_SPLITS if s in res["split"].values]
    if not bins or "truth" not in res["reference"].values:
        return None
    ref = scored_reference(res, "truth")
    sel = res.sel(reference=ref, group="pooled", split=bins)
    n = sel["n"].max("product").values
    fig, ax = plt.subplots(figsize=(7, 3.8))
    x = np.arange(len(bins))
    rows = {str(m): sel["value"].sel({"product": m}).sel(metric=metric).values for m in res["product"].values}
    styles = product_styles(rows)
    for names in same_rows({m: y for m, y in rows.items() if np.isfinite(y).any()}):
        y = rows[names[0]]
        label = " = ".join(product_label(res, n) for n in names)
        ax.plot(x, y, lw=1.2, ms=5, label=label, **styles[names[0]])
    ax.set_xticks(x, [f"{b.split(':', 1)[1]}\n(n {int(k):,})" for b, k in zip(bins, n)], fontsize=8)
    ax.set_xlabel("days to the nearest usable SMAP value")
    units = str(res["metric_units"].sel(metric=metric).values) if "metric_units" in res.coords else ""
    ax.set_ylabel(f"{metric} against truth ({units.replace('m3 m-3', 'm³ m⁻³')})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=1 if len(rows) <= 14 else 2)
    return _save(fig, path)


def training_figure(res: xr.Dataset, path: Path) -> Path | None:
    """Per trained method: mean training L1 and validation RMSE against the step, one line per seed,
    the selected step (lowest validation RMSE) marked. None when the results carry no curves."""
    curves = {m: c for m, c in json.loads(res.attrs.get("training_curves", "{}")).items() if any(c)}
    if not curves:
        return None
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.4), squeeze=False)
    for ax, (name, members) in zip(axes[0], curves.items()):
        for k, curve in enumerate(members):
            steps = [r["step"] for r in curve]
            val = [r["val_rmse"] for r in curve]
            ax.plot(steps, val, marker=".", lw=1.2, color=f"C{k}", label="validation RMSE" if k == 0 else None)
            ax.plot(
                steps,
                [r["train_l1"] for r in curve],
                lw=0.8,
                ls="--",
                color=f"C{k}",
                label="training L1" if k == 0 else None,
            )
            best = int(np.nanargmin(val))
            ax.plot(steps[best], val[best], marker="*", ms=11, color=f"C{k}", label="selected" if k == 0 else None)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel("m³ m⁻³")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, path)
