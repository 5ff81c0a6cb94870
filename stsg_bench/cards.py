"""Dataset cards: one TOML file per case (``./datasets/NAME.toml``, or packaged in
:mod:`stsg_bench.resources`: source, version, readers, grid window,
periods, validation settings, citations and where the files are, relative to a data root), parsed at the
edge into a typed :class:`Card` (unknown keys, wrong types and bad dates are one-line errors naming the
card and the key), then built into a :class:`CaseBundle`.

The data root is, in order: the ``--data-root`` argument, ``$STSG_DATA``, then ``../shared/data`` next to
the current folder or next to the project checkout. Sources are read by plug-in readers
(:mod:`stsg_bench.io.readers`) named by each section's ``reader`` key: ``[observation]`` (historical
name ``[smap]``) and ``[model]`` (``[gldas]``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from . import resources
from .case import make_case, save_case, validate_case
from .configs import closest, load, located, typed_values
from .errors import ConfigError, InputError
from .files import read_toml, tomllib
from .grid import Window
from .io import SourceData, get_reader
from .io.ismn import StationSeries
from .provenance import check_product_name, file_identity, from_attr, software, to_attr
from .twin.presets import PRESETS as TWIN_PRESETS
from .validation.evaluate import ValidationConfig, to_record

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parents[1]
Period = tuple[str, str]
#: card section names per reader role (the first is the current name, then the historical one)
ROLE_SECTIONS = {"observation": ("observation", "smap"), "model": ("model", "gldas")}
#: keys that describe a source for people and are not read by any reader
DESCRIPTIVE_KEYS = ("product", "version", "variables", "units", "description")


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
    """A card path, or a name in ``./datasets/`` or the packaged cards (:mod:`stsg_bench.resources`)."""
    path = resources.find("datasets", name)
    if path is None:
        known = ", ".join(resources.names("datasets")) or "none found"
        raise ConfigError(f"unknown dataset card '{name}' (known: {known})")
    return path


def load_card(name: str | Path) -> Card:
    """Find, read and parse a dataset card (a path, or a name: ``./datasets/NAME.toml``, else packaged)."""
    path = find_card(name)
    return parse_card(read_toml(path, "dataset card"), path)


@dataclass
class CaseBundle:
    """A built case, where its in-situ data is, and what was noticed while building it."""

    case: xr.Dataset
    card: Card
    insitu: Path | list[StationSeries] | None = None  # a folder/zip (real data) or station series (twin)
    notes: list[str] = field(default_factory=list)
    external: list[tuple[ExternalSource, Path]] = field(default_factory=list)  # products to import, resolved
    provenance: dict = field(default_factory=dict)  # card, inputs (relative names, sizes, checksums), citations

    def __post_init__(self) -> None:
        if not self.provenance:
            self.provenance = card_provenance(self.card)


def card_citations(card: Card) -> dict[str, str]:
    """The card's ``[citations]`` and its external products' ``citation`` keys (data citations)."""
    return {**card.citations, **{e.name: e.citation for e in card.external if e.citation}}


def card_provenance(card: Card, data_root: str | Path | None = None) -> dict:
    """Which card and input files a case was built from (names relative to the data root or the card's
    folder, sizes, SHA-256) and the data citations."""
    root = default_data_root(data_root)
    record: dict = {"card": card.name, "card_kind": card.kind, "software": software()}
    if card.kind == "twin":
        record.update(twin_preset=card.preset, twin_seed=card.seed)
    record["inputs"] = [file_identity(p, [root, card.path.parent]) for p in card_inputs(card, data_root)]
    record["citations"] = card_citations(card)
    return record


def _resolve(card: Card, rel: str, key: str, root: Path | None) -> Path:
    p = Path(rel)
    if not p.is_absolute():
        if root is None:
            raise InputError(card.path, f"relative path '{rel}' but no data root (use --data-root or STSG_DATA)", key)
        p = root / p
    if not p.exists():
        raise InputError(p, f"file named by dataset card {card.path} does not exist", key)
    return p


def card_inputs(card: Card, data_root: str | Path | None = None) -> list[Path]:
    """The files and folders a card reads (the card itself and its sources under the data root)."""
    root = default_data_root(data_root)
    rels = [s.path for s in (card.observation, card.model) if s is not None]
    rels += [card.ismn_path] if card.ismn_path else []
    rels += [e.path for e in card.external]
    paths = [card.path] if card.path.exists() else []
    for rel in rels:
        p = Path(rel)
        paths.append(p if p.is_absolute() or root is None else root / p)
    return paths


def _read(card: Card, src: Source, window: Window, root: Path | None, period: Period | None) -> SourceData:
    spec = get_reader(src.reader)
    return spec.open(_resolve(card, src.path, f"{src.section}.path", root), window, period, src.options)


def period_from_toml(value: Any, where: str) -> Period:
    """``["YYYY-MM-DD", "YYYY-MM-DD"]`` -> a checked period (a ``from_toml`` reader of the config layer)."""
    if not (isinstance(value, (list, tuple)) and len(value) == 2):
        raise ConfigError(f'{where}: a period is ["YYYY-MM-DD", "YYYY-MM-DD"]')
    try:
        lo, hi = (pd.Timestamp(str(v)) for v in value)
    except (ValueError, TypeError):
        raise ConfigError(f"{where}: cannot parse the dates {value!r}") from None
    if hi < lo:
        raise ConfigError(f"{where}: period ends before it starts ({value[0]} > {value[1]})")
    return str(lo.date()), str(hi.date())


def _no_unknown(table: Any, valid, where: str) -> None:
    """ConfigError for the first key of ``table`` not in ``valid`` (with the closest valid one)."""
    for key in table:
        if key not in valid:
            raise ConfigError(f"{where}.{key}: unknown key{closest(key, valid)} (valid: {', '.join(sorted(valid))})")


@dataclass(frozen=True)
class Source:
    """One ``[observation]``/``[model]`` section: a registered reader, its path and its options."""

    section: str
    reader: str
    path: str
    options: Any


@dataclass(frozen=True)
class ExternalSource:
    """One ``[[external]]`` entry: a product on a regular lat/lon grid imported onto the case's cells
    (:func:`stsg_bench.io.external.import_external`) and scored beside the methods."""

    name: str
    path: str
    variable: str | None = None  # default: the file's only soil-moisture variable, else 'sm'
    description: str = ""
    citation: str = ""
    layer_depth: float | None = None  # m: the layer a water amount (kg m-2) is given for


EXTERNAL_KEYS = ("name", "path", "variable", "description", "product", "version", "citation", "units", "layer_depth")


def external_from_toml(value: Any, where: str) -> tuple[ExternalSource, ...]:
    """An ``[[external]]`` array of tables (card or run config): names unique and not a method's, paths
    given, strings and depths typed."""
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ConfigError(f"{where}: expected [[external]] tables (name, path, variable)")
    from .methods import list_methods  # the registry (imported here: reading a card needs no torch)

    out: list[ExternalSource] = []
    for i, t in enumerate(value):
        at = f"{where}[{i}]"
        _no_unknown(t, EXTERNAL_KEYS, at)
        for k in ("name", "path"):
            if not isinstance(t.get(k), str) or not t[k]:
                raise ConfigError(f'{at}.{k}: needs {k} = "..."')
        kw = typed_values(_ExternalTable, t, at)
        check_product_name(t["name"], list_methods(), f"{at}.name")
        if any(e.name == t["name"] for e in out):
            raise ConfigError(f"{at}.name: external product name '{t['name']}' given twice")
        depth = kw.get("layer_depth")
        if depth is not None and not depth > 0:
            raise ConfigError(f"{at}.layer_depth: expected a depth in m > 0, got {depth!r}")
        desc = " ".join(str(t[k]) for k in ("product", "version", "description") if k in t)
        out.append(ExternalSource(t["name"], t["path"], t.get("variable"), desc, t.get("citation", ""), depth))
    return tuple(out)


@dataclass
class _ExternalTable:
    """The TOML shape of one ``[[external]]`` entry (its types; :class:`ExternalSource` is what it becomes)."""

    name: str
    path: str
    variable: str | None = None
    description: str = ""
    product: str = ""
    version: str = ""
    citation: str = ""
    units: str = ""
    layer_depth: float | None = None


def resolve_external(card: Card, data_root: str | Path | None = None) -> list[tuple[ExternalSource, Path]]:
    """The card's external products with their paths under the data root (missing ones are errors)."""
    root = default_data_root(data_root)
    return [(e, _resolve(card, e.path, f"external.{e.name}.path", root)) for e in card.external]


@dataclass(frozen=True)
class Card:
    """A parsed dataset card."""

    name: str
    kind: str  # 'twin' | 'files'
    path: Path
    description: str = ""
    preset: str = "small"  # twin cards
    seed: int = 0  # twin cards
    period: Period | None = None
    train_period: Period | None = None
    test_period: Period | None = None
    window: Window | None = None
    observation: Source | None = None
    model: Source | None = None
    ismn_path: str | None = None
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    citations: dict[str, str] = field(default_factory=dict)
    external: tuple[ExternalSource, ...] = ()


def source_from_toml(table: Any, where: str) -> Source:
    """An ``[observation]``/``[model]`` section (``where`` ends with its name): a registered reader of
    that role, a path, and the reader's own options typed by its Options dataclass."""
    section = where.rsplit(".", 1)[-1]
    role = next(r for r, names in ROLE_SECTIONS.items() if section in names)
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table")
    name = table.get("reader")
    if not isinstance(name, str):
        raise ConfigError(f'{where}.reader: needs reader = "NAME"')
    try:
        spec = get_reader(name, role)
    except ConfigError as exc:
        raise ConfigError(f"{where}.reader: {exc}") from None
    if not isinstance(table.get("path"), str) or not table["path"]:
        raise ConfigError(f"{where}.path: [{section}] needs a 'path'")
    fields = {f.name.rstrip("_"): f.name for f in dataclasses.fields(spec.Options)}  # card key 'pass' -> pass_
    _no_unknown(table, {"reader", "path", *DESCRIPTIVE_KEYS, *fields}, where)
    options = {fields[k]: v for k, v in table.items() if k in fields}
    try:
        kw = typed_values(spec.Options, options, where)
    except ConfigError as err:  # name the card key ('pass'), not the field ('pass_')
        raise ConfigError(str(err).replace(f"{where}.{err.key}", f"{where}.{str(err.key).rstrip('_')}")) from None
    return Source(section, name, table["path"], load(spec.Options, kw, where))


def window_from_toml(value: Any, where: str) -> Window:
    """``{ row0 = INT, row1 = INT, col0 = INT, col1 = INT }`` (global EASE2 M36 rows/cols, half-open)."""
    ok = isinstance(value, dict) and set(value) == {"row0", "row1", "col0", "col1"}
    if not ok or not all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
        raise ConfigError(f"{where}: window = {{ row0 = INT, row1 = INT, col0 = INT, col1 = INT }}")
    try:
        return Window(**value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: bad window ({exc})") from None


#: the latitudes EASE-Grid 2.0 global covers (its first and last rows' outer edges)
EASE2_MAX_LAT = 85.044


def bbox_from_toml(bbox: Any, where: str) -> Window:
    """``[W, S, E, N]`` in degrees (east and north positive) -> the smallest EASE2 M36 window holding it."""
    numbers = isinstance(bbox, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)
    if not isinstance(bbox, list) or not numbers or len(bbox) != 4:
        raise ConfigError(f"{where}: expected [W, S, E, N] in degrees, got {bbox!r}")
    w, s, e, n = (float(v) for v in bbox)
    if not -180.0 <= w < e <= 180.0:
        raise ConfigError(f"{where}: need -180 <= W < E <= 180 (no box across the antimeridian), got W {w:g}, E {e:g}")
    if not -EASE2_MAX_LAT <= s < n <= EASE2_MAX_LAT:
        raise ConfigError(
            f"{where}: need -{EASE2_MAX_LAT} <= S < N <= {EASE2_MAX_LAT} (EASE-Grid 2.0), got S {s:g}, N {n:g}"
        )
    return Window.from_bbox(w, s, e, n)


def card_text(
    name: str,
    bbox: tuple[float, float, float, float],
    period: tuple[str, str],
    smap: str | Path,
    gldas: str | Path,
    ismn: str | Path | None = None,
    data_root: str | Path | None = None,
) -> str:
    """A ``files`` dataset card for native archives: SPL3SMP granules (``spl3smp_folder``), GLDAS Noah
    2.1 3-hourly files (``gldas_folder``) and an ISMN download, over a lon/lat box and a period. Paths
    under ``data_root`` are written relative to it, others as absolute paths. The text is parsed back
    before it is returned, so a card this writes always loads."""
    root = Path(data_root).resolve() if data_root else None

    def where(p: str | Path) -> str:
        full = Path(p).resolve()
        return str(full.relative_to(root)) if root and full.is_relative_to(root) else str(full)

    w, s, e, n = (float(v) for v in bbox)
    lines = [
        f'name = "{name}"',
        'kind = "files"',
        f'description = "SMAP L3 + GLDAS Noah 2.1 over [{w:g}, {s:g}, {e:g}, {n:g}], {period[0]} .. {period[1]}"',
        f'period = ["{period[0]}", "{period[1]}"]',
        "# train_period / test_period: default first and second half of the period",
        "",
        "[grid]",
        'name = "EASE-Grid 2.0 global 36 km (EPSG:6933)"',
        f"bbox = [{w!r}, {s!r}, {e!r}, {n!r}]  # W, S, E, N in degrees: the smallest window of cells holding it",
        "",
        "[observation]",
        'product = "SMAP L3 Radiometer Global Daily 36 km EASE-Grid Soil Moisture (SPL3SMP)"',
        'version = "9"',
        'reader = "spl3smp_folder"',
        f"path = {json.dumps(where(smap))}",
        'pass = "am_pm"',
        'quality_rule = "recommended"',
        "",
        "[model]",
        'product = "GLDAS Noah Land Surface Model L4 3 hourly 0.25 x 0.25 degree (GLDAS_NOAH025_3H)"',
        'version = "2.1"',
        'reader = "gldas_folder"',
        f"path = {json.dumps(where(gldas))}",
    ]
    if ismn is not None:
        lines += ["", "[ismn]", f"path = {json.dumps(where(ismn))}", "depth = [0.0, 0.1]", 'flags = ["G"]']
    text = "\n".join(lines) + "\n"
    try:
        parse_card(tomllib.loads(text), Path(f"{name}.toml"))
    except InputError as exc:  # the card would not load: say which option made it so
        option = {"grid.bbox": "--bbox", "period": "--period"}.get(exc.variable or "", exc.variable or "card")
        raise ConfigError(f"{option}: {exc.problem}") from None
    return text


def _reader(fn) -> dict:
    return {"from_toml": fn}


@dataclass
class _GridTable:
    """The ``[grid]`` table: the cells, by a box in degrees or a row/col window."""

    name: str = ""
    window: Window | None = field(default=None, metadata=_reader(window_from_toml))
    bbox: Window | None = field(default=None, metadata=_reader(bbox_from_toml))


@dataclass
class _CardTable:
    """The TOML shape of a dataset card, read by the one typed config layer (:mod:`stsg_bench.configs`):
    types, unknown keys (with the closest valid one) and nested tables checked by their annotations."""

    kind: str = ""
    name: str | None = None
    description: str = ""
    preset: str = "small"
    seed: int = 0
    period: Period | None = field(default=None, metadata=_reader(period_from_toml))
    train_period: Period | None = field(default=None, metadata=_reader(period_from_toml))
    test_period: Period | None = field(default=None, metadata=_reader(period_from_toml))
    grid: _GridTable = field(default_factory=_GridTable)
    observation: Source | None = field(default=None, metadata=_reader(source_from_toml))
    smap: Source | None = field(default=None, metadata=_reader(source_from_toml))  # historical name
    model: Source | None = field(default=None, metadata=_reader(source_from_toml))
    gldas: Source | None = field(default=None, metadata=_reader(source_from_toml))  # historical name
    ismn: dict[str, Any] = field(default_factory=dict)  # ValidationConfig's keys, plus path and format
    citations: dict[str, str] = field(default_factory=dict)
    external: tuple[ExternalSource, ...] = field(default=(), metadata=_reader(external_from_toml))

    def __post_init__(self) -> None:
        if self.kind not in ("twin", "files"):
            raise ConfigError(f"kind: card needs kind = 'twin' or 'files', got {self.kind!r}")
        if self.kind == "twin" and self.preset not in TWIN_PRESETS:
            raise ConfigError(f"preset: unknown twin preset {self.preset!r} (valid: {', '.join(TWIN_PRESETS)})")
        if self.seed < 0:
            raise ConfigError(f"seed: expected a whole number >= 0, got {self.seed}")
        if self.grid.window is not None and self.grid.bbox is not None:
            raise ConfigError("grid.bbox: give window or bbox, not both")
        for names in ROLE_SECTIONS.values():
            if all(getattr(self, n) is not None for n in names):
                raise ConfigError(f"{names[1]}: give [{names[0]}] or [{names[1]}], not both")
        if self.kind == "files":
            if self.grid.window is None and self.grid.bbox is None:
                raise ConfigError(
                    "grid: [grid] bbox = [W, S, E, N] (degrees) or window = {row0, row1, col0, col1} is required"
                )
            for names in ROLE_SECTIONS.values():
                if all(getattr(self, n) is None for n in names):
                    raise ConfigError(f"{names[0]}: a 'files' card needs an [{names[0]}] section")

    def source(self, role: str) -> Source | None:
        return next((getattr(self, n) for n in ROLE_SECTIONS[role] if getattr(self, n) is not None), None)


def parse_card(data: dict[str, Any], path: Path) -> Card:
    """Check a card's keys, types and dates (the typed config layer) and build a :class:`Card`; every
    error is one line naming the card and the key."""
    try:
        t = load(_CardTable, data, "card")
        validation = ValidationConfig.from_mapping(t.ismn, "[ismn]")
    except ConfigError as err:
        key, problem = located(err, "card")
        if problem.startswith("card: "):  # a check of __post_init__: 'card: key: problem'
            key, _, problem = problem[len("card: ") :].partition(": ")
        elif problem.startswith("[ismn]"):
            key = "ismn"
        raise InputError(path, problem, key or "card") from None
    return Card(
        name=t.name or path.stem,
        kind=t.kind,
        path=path,
        description=t.description,
        preset=t.preset,
        seed=t.seed,
        window=t.grid.window or t.grid.bbox,
        observation=t.source("observation"),
        model=t.source("model"),
        ismn_path=t.ismn.get("path"),
        validation=validation,
        citations=t.citations,
        external=t.external,
        period=t.period,
        train_period=t.train_period,
        test_period=t.test_period,
    )


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
            notes.append(
                f"land cell (row {r}, col {c} in window) has no GLDAS cell: filled with the mean of its neighbours"
            )
        else:
            land[r, c] = False
            notes.append(
                f"land cell (row {r}, col {c} in window) has no GLDAS value nearby: removed from the land mask"
            )
    return noah, land, notes


def _coverage_notes(card: Card, times: pd.DatetimeIndex, smap: xr.Dataset) -> list[str]:
    """Warnings for a case that covers less than its card asks for: days of the card's period (or of its
    training/test period) the sources do not share, a window without a usable SMAP value."""
    notes = []
    if card.period:
        want = pd.date_range(card.period[0], card.period[1], freq="D")
        have = want.intersection(times)
        if len(have) < len(want):
            notes.append(
                f"WARNING: the card's period {card.period[0]}..{card.period[1]} has {len(want)} days; SMAP and GLDAS "
                f"share {len(have)} of them ({times[0].date()}..{times[-1].date()}): the sources miss the rest"
            )
    for label, period in (("train_period", card.train_period), ("test_period", card.test_period)):
        if period and not ((times >= pd.Timestamp(period[0])) & (times <= pd.Timestamp(period[1]))).any():
            raise InputError(card.path, f"{period[0]}..{period[1]} holds no day SMAP and GLDAS share", label)
    if "smap_quality" in smap and not bool(np.asarray(smap["smap_quality"].values).any()):
        notes.append("WARNING: no usable SMAP value in the card's window and period (quality rule and land mask)")
    return notes


def build_case_from_card(
    name: str | Path | Card, data_root: str | Path | None = None, out: str | Path | None = None, progress: bool = False
) -> tuple[xr.Dataset, list[str]]:
    b = build_bundle(name, data_root, progress=progress)
    if out is not None:
        save_case(b.case, out)
    return b.case, b.notes


def build_bundle(name: str | Path | Card, data_root: str | Path | None = None, progress: bool = False) -> CaseBundle:
    """Build the case a card describes (twin or real files)."""
    card = name if isinstance(name, Card) else load_card(name)
    if card.kind == "twin":
        from .twin import generate_twin

        twin = generate_twin(card.preset, seed=card.seed, progress=progress)
        prov = card_provenance(card, data_root)
        twin.case.attrs["provenance"] = to_attr(prov)
        return CaseBundle(twin.case, card, twin.stations, [], resolve_external(card, data_root), prov)
    root = default_data_root(data_root)
    prov = card_provenance(card, data_root)
    case, notes = read_files_case(card, root, card.period, prov)
    insitu = _resolve(card, card.ismn_path, "ismn.path", root) if card.ismn_path else None
    for n in notes:
        log.info("%s: %s", card.name, n)
    return CaseBundle(case, card, insitu, notes, resolve_external(card, root), prov)


def bundle_from_case(card: Card, case_path: str | Path, data_root: str | Path | None = None) -> CaseBundle:
    """A bundle of an already built case of a ``files`` card (``run --case``: e.g. the chunk folder of
    ``case --chunk-days``), loaded into memory; the case must come from this card."""
    from .io.lazy import open_case_lazy

    if card.kind != "files":
        raise ConfigError(f"--case: card '{card.name}' is a {card.kind} card; its case is generated, not read")
    case = open_case_lazy(case_path).load()
    made_from = from_attr(case.attrs.get("provenance", "{}")).get("card") if "provenance" in case.attrs else None
    if made_from != card.name:
        raise InputError(case_path, f"built from card {made_from!r}, not {card.name!r}", "provenance")
    root = default_data_root(data_root)
    insitu = _resolve(card, card.ismn_path, "ismn.path", root) if card.ismn_path else None
    prov = from_attr(case.attrs["provenance"])
    return CaseBundle(case, card, insitu, [], resolve_external(card, root), prov)


def read_files_case(
    card: Card,
    root: Path | None,
    period: Period | None,
    provenance: dict,
    land: np.ndarray | None = None,
) -> tuple[xr.Dataset, list[str]]:
    """The case of a ``files`` card over ``period`` (the card's, or one time chunk of it), read by the
    card's readers; ``land``: a fixed land mask (the chunks of one case share the first chunk's), else
    cells where SMAP's file says land or Noah has a value. Returns (case, notes)."""
    assert card.window is not None and card.observation is not None and card.model is not None  # parse_card checked
    window = card.window
    obs, mod = _read(card, card.observation, window, root, period), _read(card, card.model, window, root, period)
    notes: list[str] = obs.problems + mod.problems
    smap, noah = obs.data, mod.data["noah"]
    times = smap.indexes["time"].intersection(noah.indexes["time"])
    if len(times) == 0:
        raise InputError(card.path, f"SMAP and GLDAS share no day in {period[0]}..{period[1]}" if period else
                         "SMAP and GLDAS share no day in the card's period", "period")  # fmt: skip
    smap, noah = smap.sel(time=times), noah.sel(time=times)
    if period == card.period:
        notes += _coverage_notes(card, times, smap)
    for coord, lo, hi in (("row", window.row0, window.row1), ("col", window.col0, window.col1)):
        got = smap[coord].values if coord in smap.coords else None
        if got is not None and not np.array_equal(got, np.arange(lo, hi)):
            raise InputError(
                card.path,
                f"the observation file covers {coord}s {int(got[0])}..{int(got[-1])}, the card's window {lo}..{hi - 1}",
                "grid.window",
            )
    if (smap.sizes["y"], smap.sizes["x"]) != window.shape:
        raise InputError(
            card.path,
            f"SMAP window {smap.sizes['y']}x{smap.sizes['x']} differs from the card's {window.shape}",
            "grid.window",
        )
    if land is None:
        land = smap["land"].values if "land" in smap else np.isfinite(noah.values).any(axis=0)
    noah_v, land, fill_notes = fill_land_gaps(noah.values, land)
    notes += fill_notes
    noah_v = np.where(land, noah_v, np.nan).astype(np.float32)
    rule = smap.attrs.get("smap_quality_rule", "")
    notes.append(
        f"SMAP quality rule: '{rule}'"
        + (" (relaxed: SMAP never reaches 'recommended' quality here)" if rule != "recommended" else "")
    )
    attrs = {
        "source": f"dataset card {card.name}",
        "provenance": to_attr(provenance),
        "smap_quality_rule": rule,
        "smap_pass": smap.attrs.get("smap_pass", ""),
        "history": "; ".join(notes)[:4000],
        **validation_attrs(card.validation),
    }
    if card.train_period:
        attrs["train_end"] = card.train_period[1]
    case = make_case(window, times, smap["smap"].values, smap["smap_quality"].values & land, noah_v, land, attrs=attrs)
    validate_case(case, source=str(card.path))
    return case, notes


#: case attributes carrying the card's station-matching settings, so ``stsg-bench score`` on the case
#: file matches stations exactly as ``run`` did
VALIDATION_ATTRS = {"depth": "ismn_depth_range", "flags": "ismn_flags", "min_obs": "ismn_min_obs"}
#: the whole validation config of the card (every ``[ismn]`` setting, JSON), read back by ``score``
VALIDATION_CONFIG_ATTR = "validation_config"


def validation_attrs(cfg: ValidationConfig) -> dict[str, str]:
    return {
        VALIDATION_ATTRS["depth"]: f"{cfg.depth[0]} {cfg.depth[1]}",
        VALIDATION_ATTRS["flags"]: " ".join(cfg.flags),
        VALIDATION_ATTRS["min_obs"]: str(cfg.min_obs),
        VALIDATION_CONFIG_ATTR: json.dumps(to_record(cfg), sort_keys=True),
    }


def validation_from_case(case: xr.Dataset, default: ValidationConfig | None = None) -> ValidationConfig:
    """The validation settings a case was built with (its card's whole ``[ismn]``), else ``default``
    (cases written before the whole config was stored: depth, flags and min_obs only)."""
    cfg = default or ValidationConfig()
    a = case.attrs
    if VALIDATION_CONFIG_ATTR in a:
        try:
            record = json.loads(str(a[VALIDATION_CONFIG_ATTR]))
        except ValueError as exc:
            raise ConfigError(f"case attribute {VALIDATION_CONFIG_ATTR}: not JSON ({exc})") from None
        return ValidationConfig.from_mapping(record, f"case attribute {VALIDATION_CONFIG_ATTR}")
    try:
        if VALIDATION_ATTRS["depth"] in a:
            lo, hi = (float(v) for v in str(a[VALIDATION_ATTRS["depth"]]).split())
            cfg = cfg.replace(depth=(lo, hi))
        if VALIDATION_ATTRS["flags"] in a:
            cfg = cfg.replace(flags=tuple(str(a[VALIDATION_ATTRS["flags"]]).split()))
        if VALIDATION_ATTRS["min_obs"] in a:
            cfg = cfg.replace(min_obs=int(a[VALIDATION_ATTRS["min_obs"]]))
    except ValueError as exc:
        raise ConfigError(f"case attributes {', '.join(VALIDATION_ATTRS.values())}: {exc}") from None
    return cfg
