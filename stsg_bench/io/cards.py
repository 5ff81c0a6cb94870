"""Dataset cards: one TOML file per case in ``datasets/`` (source, version, variables, grid window,
period, citations and where the files are, relative to a data root).

The data root is, in order: the ``--data-root`` argument, ``$STSG_DATA``, then ``../shared/data`` next to
the current folder or next to the project checkout. Readers are looked up in registries by the card's
``reader`` key (no if/elif chains): add a format by adding a function to ``SMAP_READERS`` /
``GLDAS_READERS``.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import xarray as xr

from ..case import make_case, save_case, validate_case
from ..errors import ConfigError, InputError
from ..grid import Window
from .gldas import read_gldas_folder, read_gldas_window_netcdf
from .smap import read_smap_folder, read_smap_window_netcdf
from .toml import read_toml

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def default_data_root(data_root: str | Path | None = None) -> Path | None:
    if data_root:
        return Path(data_root)
    if os.environ.get("STSG_DATA"):
        return Path(os.environ["STSG_DATA"])
    for cand in (Path.cwd().parent / "shared" / "data", PROJECT_ROOT.parent / "shared" / "data"):
        if cand.is_dir():
            return cand
    return None


def find_card(name: str | Path) -> Path:
    p = Path(name)
    if p.suffix == ".toml" and p.is_file():
        return p
    for folder in (Path.cwd() / "datasets", PROJECT_ROOT / "datasets"):
        cand = folder / f"{name}.toml"
        if cand.is_file():
            return cand
    known = sorted({c.stem for f in (Path.cwd() / "datasets", PROJECT_ROOT / "datasets") if f.is_dir() for c in f.glob("*.toml")})
    raise ConfigError(f"unknown dataset card '{name}' (known: {', '.join(known) or 'none found'})")


def load_card(name: str | Path) -> dict[str, Any]:
    path = find_card(name)
    card = read_toml(path, "dataset card")
    card.setdefault("name", path.stem)
    card["_path"] = str(path)
    if card.get("kind") not in ("twin", "files"):
        raise InputError(path, "card needs kind = 'twin' or 'files'", "kind")
    return card


@dataclass
class CaseBundle:
    """A built case, where its in-situ data is, and what was noticed while building it."""

    case: xr.Dataset
    card: dict
    insitu: Any = None  # a folder/zip path (real data) or a list of StationSeries (twin)
    notes: list[str] = field(default_factory=list)


def _resolve(card: dict, section: str, root: Path | None) -> Path:
    rel = card[section].get("path")
    if not rel:
        raise InputError(card["_path"], f"[{section}] needs a 'path'", f"{section}.path")
    p = Path(rel)
    if not p.is_absolute():
        if root is None:
            raise InputError(card["_path"], f"relative path '{rel}' but no data root (use --data-root or STSG_DATA)", f"{section}.path")
        p = root / p
    if not p.exists():
        raise InputError(p, f"file named by dataset card {card['_path']} does not exist", f"{section}.path")
    return p


def _smap_netcdf(path: Path, cfg: dict, window: Window, period) -> tuple[xr.Dataset, list[str]]:
    return read_smap_window_netcdf(path, cfg.get("pass", "am"), cfg.get("quality_rule", "recommended"), period), []


def _smap_h5(path: Path, cfg: dict, window: Window, period) -> tuple[xr.Dataset, list[str]]:
    r = read_smap_folder(path, window, cfg.get("pass", "am"), cfg.get("quality_rule", "recommended"), cfg.get("strict", False), period)
    return r.dataset, r.problems


def _gldas_netcdf(path: Path, cfg: dict, window: Window, period):
    r = read_gldas_window_netcdf(path, window, cfg.get("variable", "SoilMoi0_10cm_inst"), period)
    return r.noah, r.problems


def _gldas_nc4(path: Path, cfg: dict, window: Window, period):
    r = read_gldas_folder(path, window, cfg.get("variable", "SoilMoi0_10cm_inst"), period, cfg.get("strict", False))
    return r.noah, r.problems


SMAP_READERS: dict[str, Callable] = {"smap_window_netcdf": _smap_netcdf, "spl3smp_folder": _smap_h5}
GLDAS_READERS: dict[str, Callable] = {"gldas_window_netcdf": _gldas_netcdf, "gldas_folder": _gldas_nc4}


def _reader(registry: dict, cfg: dict, section: str, card: dict) -> Callable:
    name = cfg.get("reader")
    if name not in registry:
        raise InputError(card["_path"], f"unknown reader '{name}' (valid: {', '.join(registry)})", f"{section}.reader")
    return registry[name]


def fill_land_gaps(noah: np.ndarray, land: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Land cells without any Noah value get the mean of their 8 neighbours' values (per day); land cells
    with no neighbour value either leave the land mask. Returns (noah, land, notes)."""
    noah = noah.copy()
    land = land.copy()
    notes = []
    empty = land & ~np.isfinite(noah).any(axis=0)
    ny, nx = land.shape
    for r, c in zip(*np.nonzero(empty)):
        r0, r1, c0, c1 = max(r - 1, 0), min(r + 2, ny), max(c - 1, 0), min(c + 2, nx)
        block = noah[:, r0:r1, c0:c1].reshape(noah.shape[0], -1)
        if np.isfinite(block).any():
            valid = np.isfinite(block)
            noah[:, r, c] = np.where(valid, block, 0).sum(1) / np.maximum(valid.sum(1), 1)
            notes.append(f"land cell (row {r}, col {c} in window) has no GLDAS cell: filled with the mean of its neighbours")
        else:
            land[r, c] = False
            notes.append(f"land cell (row {r}, col {c} in window) has no GLDAS value nearby: removed from the land mask")
    return noah, land, notes


def build_case_from_card(name: str | Path, data_root: str | Path | None = None, out: str | Path | None = None, progress: bool = False) -> tuple[xr.Dataset, list[str]]:
    b = build_bundle(name, data_root, progress=progress)
    if out is not None:
        save_case(b.case, out)
    return b.case, b.notes


def build_bundle(name: str | Path, data_root: str | Path | None = None, progress: bool = False) -> CaseBundle:
    """Build the case a card describes (twin or real files)."""
    card = load_card(name)
    if card["kind"] == "twin":
        from ..twin import generate_twin

        twin = generate_twin(card.get("preset", "small"), seed=int(card.get("seed", 0)), progress=progress)
        return CaseBundle(twin.case, card, twin.stations, [])
    root = default_data_root(data_root)
    period = tuple(card["period"]) if "period" in card else None
    w = card.get("grid", {}).get("window")
    if not w:
        raise InputError(card["_path"], "[grid] window = {row0, row1, col0, col1} is required", "grid.window")
    window = Window(**w)
    notes: list[str] = []
    smap_cfg, gldas_cfg = card.get("smap", {}), card.get("gldas", {})
    smap, n1 = _reader(SMAP_READERS, smap_cfg, "smap", card)(_resolve(card, "smap", root), smap_cfg, window, period)
    noah, n2 = _reader(GLDAS_READERS, gldas_cfg, "gldas", card)(_resolve(card, "gldas", root), gldas_cfg, window, period)
    notes += n1 + n2
    times = smap.indexes["time"].intersection(noah.indexes["time"])
    if len(times) == 0:
        raise InputError(card["_path"], "SMAP and GLDAS share no day in the card's period", "period")
    smap, noah = smap.sel(time=times), noah.sel(time=times)
    if (smap.sizes["y"], smap.sizes["x"]) != window.shape:
        raise InputError(card["_path"], f"SMAP window {smap.sizes['y']}x{smap.sizes['x']} differs from the card's {window.shape}", "grid.window")
    land = smap["land"].values if "land" in smap else np.isfinite(noah.values).any(axis=0)
    noah_v, land, fill_notes = fill_land_gaps(noah.values, land)
    notes += fill_notes
    noah_v = np.where(land, noah_v, np.nan).astype(np.float32)
    rule = smap.attrs.get("smap_quality_rule", "")
    notes.append(f"SMAP quality rule: '{rule}'" + (" (relaxed: SMAP never reaches 'recommended' quality here)" if rule != "recommended" else ""))
    attrs = {
        "source": f"dataset card {card['name']}",
        "smap_quality_rule": rule,
        "smap_pass": smap.attrs.get("smap_pass", ""),
        "history": "; ".join(notes)[:4000],
    }
    if "train_period" in card:
        attrs["train_end"] = card["train_period"][1]
    case = make_case(window, times, smap["smap"].values, smap["smap_quality"].values & land, noah_v, land, attrs=attrs)
    validate_case(case, source=card["_path"])
    insitu = _resolve(card, "ismn", root) if "ismn" in card else None
    for n in notes:
        log.info("%s: %s", card["name"], n)
    return CaseBundle(case, card, insitu, notes)
