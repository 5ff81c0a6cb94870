"""ISMN in-situ soil moisture: read *header+values* and *CEOP separate-files* ``.stm`` files (from a
folder or straight from the downloaded ``.zip``), write header+values files (used by the synthetic twin),
filter sensors by depth and quality flag, and aggregate hourly values to daily means.

File names follow ISMN's pattern ``CSE_NETWORK_STATION_VAR_DFROM_DTO_SENSOR_START_END.stm``; network,
station, variable, depth and sensor are taken from the name (it is the same in both formats), coordinates
and elevation from the file contents. Line endings may be LF, CRLF or a bare CR (older downloads).
"""

from __future__ import annotations

import logging
import os
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..files import atomic_path

log = logging.getLogger(__name__)

_NAME = re.compile(
    r"^(?P<cse>[^_]+)_(?P<network>[^_]+)_(?P<station>.+)_(?P<variable>[a-z_]+?)_"
    r"(?P<depth_from>-?\d+\.\d+)_(?P<depth_to>-?\d+\.\d+)_(?P<sensor>.+)_(?P<start>\d{8})_(?P<end>\d{8})\.stm$"
)
#: Default quality filter: ISMN flag 'G' (good) only.
GOOD_FLAGS = ("G",)
ONE_HOUR = pd.Timedelta("1h")


@dataclass(eq=False)  # identity: two sensors are never 'equal' by comparing their data tables
class StationSeries:
    """One sensor's record: metadata and an hourly table (index UTC time; columns sm, flag, orig_flag).

    ``metadata`` holds the station's static variables when the download has them (``land_cover``,
    ``climate_class``, ``saturation``, ``clay_fraction``, ``sand_fraction``, ``silt_fraction`` for the
    layer holding the sensor)."""

    network: str
    station: str
    lat: float
    lon: float
    elevation: float
    depth_from: float
    depth_to: float
    sensor: str
    data: pd.DataFrame = field(repr=False)
    source: str = ""
    variable: str = "sm"
    metadata: dict = field(default_factory=dict, repr=False)

    @property
    def key(self) -> str:
        """Unique id ``NETWORK/STATION/SENSOR_DFROM_DTO`` (``_VARIABLE`` appended for other variables than
        soil moisture): variable, depth and sensor name keep sensors apart."""
        tail = "" if self.variable == "sm" else f"_{self.variable}"
        return f"{self.network}/{self.station}/{self.sensor}_{self.depth_from:.4f}_{self.depth_to:.4f}{tail}"

    @property
    def name(self) -> str:
        return f"{self.network}/{self.station}"


def parse_filename(name: str) -> dict | None:
    m = _NAME.match(Path(name).name)
    if not m:
        return None
    d = m.groupdict()
    d["depth_from"] = float(d["depth_from"])
    d["depth_to"] = float(d["depth_to"])
    return d


def _normalise_newlines(raw: bytes, source: str) -> list[str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [ln for ln in text.split("\n") if ln.strip()]
    if not lines:
        raise InputError(source, "empty ISMN file", "sm")
    return lines


def _is_float(tok: str) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return False


def _parse_table(lines: list[str], source: str, first_line_no: int, cols: dict[str, int]) -> pd.DataFrame:
    """Parse whitespace-separated data lines (``orig_flag`` may be absent on some lines); errors name
    the file and line number."""
    need = cols["flag"] + 1
    rows = [ln.split() for ln in lines]
    for i, toks in enumerate(rows):
        if len(toks) < need:
            raise InputError(
                source,
                f"line {first_line_no + i}: expected at least {need} fields, got {len(toks)}: {lines[i].strip()!r}",
                "sm",
            )
    pick = lambda key: np.array([toks[cols[key]] for toks in rows], dtype=object)  # noqa: E731
    stamp = pick("date") + " " + pick("time")
    times = pd.to_datetime(pd.Series(stamp), format="%Y/%m/%d %H:%M", errors="coerce")
    values = pd.to_numeric(pd.Series(pick("value")), errors="coerce")
    bad = times.isna().to_numpy() | values.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(source, f"line {first_line_no + i}: cannot parse time/value in {lines[i].strip()!r}", "sm")
    k = cols["flag"] + 1
    df = pd.DataFrame(
        {
            "sm": values.to_numpy(dtype=np.float64),
            "flag": pick("flag").astype(str),
            "orig_flag": np.array([toks[k] if len(toks) > k else "" for toks in rows], dtype=str),
        },
        index=pd.DatetimeIndex(times, name="time"),
    )
    if df.index.has_duplicates:
        dup = df.index[df.index.duplicated()][0]
        raise InputError(source, f"duplicated time stamp {dup:%Y/%m/%d %H:%M}", "sm")
    if not df.index.is_monotonic_increasing:
        i = int(np.argmax(np.diff(df.index.asi8) < 0))
        raise InputError(source, f"time stamps out of order at line {first_line_no + i + 1}", "sm")
    return df


def read_stm_bytes(raw: bytes, source: str) -> StationSeries:
    """Parse one ``.stm`` file (format detected from the first line)."""
    meta = parse_filename(source)
    lines = _normalise_newlines(raw, source)
    first = lines[0].split()
    if re.fullmatch(r"\d{4}/\d{2}/\d{2}", first[0]):  # CEOP: every line carries the metadata
        if len(first) < 15:
            raise InputError(source, f"line 1: CEOP line needs 15 fields, got {len(first)}", "sm")
        v = len(first) - 3 if _is_float(first[-3]) else len(first) - 2
        lat, lon, elev, dfrom, dto = (float(t) for t in first[v - 5 : v])
        network, station = first[5], " ".join(first[6 : v - 5])
        sensor = ""
        df = _parse_table(lines, source, 1, {"date": 0, "time": 1, "value": v, "flag": v + 1})
    else:  # header+values: one header line, then 'date time value flag orig_flag'
        idx = next((i for i in range(2, len(first) - 4) if all(_is_float(t) for t in first[i : i + 5])), None)
        if idx is None:
            raise InputError(
                source,
                "broken header: expected 'CSE NETWORK STATION LAT LON ELEV DEPTH_FROM DEPTH_TO SENSOR'",
                "sm",
            )
        network, station = first[1], " ".join(first[2:idx])
        lat, lon, elev, dfrom, dto = (float(t) for t in first[idx : idx + 5])
        sensor = " ".join(first[idx + 5 :])
        if len(lines) < 2:
            raise InputError(source, "header but no values", "sm")
        df = _parse_table(lines[1:], source, 2, {"date": 0, "time": 1, "value": 2, "flag": 3})
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise InputError(source, f"station coordinates lat={lat}, lon={lon} out of range", "sm")
    header_name = f"{network}/{station}"
    if meta:
        network, station = meta["network"], meta["station"]
        dfrom, dto, sensor = meta["depth_from"], meta["depth_to"], meta["sensor"]
    return StationSeries(
        network=network,
        station=station,
        lat=lat,
        lon=lon,
        elevation=elev,
        depth_from=dfrom,
        depth_to=dto,
        sensor=sensor,
        data=df,
        source=source,
        variable=meta["variable"] if meta else "sm",
        metadata={"header_name": header_name},
    )


def read_stm(path: str | Path) -> StationSeries:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror})", "sm") from None
    return read_stm_bytes(raw, str(path))


#: larger than any ISMN file (a station's decade of hourly values is a few MB): refused unread
MAX_FILE_BYTES = 256 * 1024 * 1024


def _open_zip(source: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a valid zip archive"
        raise InputError(source, f"cannot read the ISMN download ({why})") from None


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: Path) -> bytes | str:
    """A member's bytes, or the reason it cannot be read (damaged, oversized)."""
    if info.file_size > MAX_FILE_BYTES:
        return f"{source}!{info.filename}: {info.file_size} bytes, larger than any ISMN file: skipped"
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        return f"{source}!{info.filename}: damaged member of the zip archive ({str(exc)[:80]}): skipped"
    except Exception as exc:  # noqa: BLE001 - zlib.error and friends from a corrupt member
        return f"{source}!{info.filename}: damaged member of the zip archive ({type(exc).__name__}): skipped"


def _read_file(p: Path) -> bytes | str:
    """A file's bytes, or the reason it is skipped: not a regular file (a FIFO or device would block or
    never end), oversized, or unreadable."""
    if not p.is_file():
        return f"{p}: not a regular file (folder, FIFO or device): skipped"
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            return f"{p}: {size} bytes, larger than any ISMN file: skipped"
        return p.read_bytes()
    except OSError as exc:
        return f"{p}: cannot read ({exc.strerror}): skipped"


def _iter_sources(source: Path, pattern: str = "*.stm") -> Iterator[tuple[str, bytes | str]]:
    """(name, bytes) of each file matching ``pattern`` in a folder, zip download or single file; instead
    of bytes, the one-line reason a file is skipped."""
    suffix = pattern[1:]
    if source.is_file() and source.suffix == ".zip":
        with _open_zip(source) as zf:
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                if info.filename.endswith(suffix) and not info.is_dir():
                    yield f"{source}!{info.filename}", _read_member(zf, info, source)
    elif source.is_dir():
        for p in sorted(source.rglob(pattern)):
            yield str(p), _read_file(p)
    elif source.is_file() and source.name.endswith(suffix):
        yield str(source), _read_file(source)
    elif source.exists() and not source.is_file() and not source.is_dir():
        raise InputError(source, "not a regular file, folder or zip (a FIFO or device?)")
    elif pattern == "*.stm":
        raise InputError(source, "ISMN source must be a folder, a .zip download or a .stm file")


@dataclass
class IsmnCollection:
    """Sensors read from an ISMN download, plus one line per file that could not be read."""

    sensors: list[StationSeries]
    problems: list[str]

    def filter(
        self,
        depth: tuple[float, float] = (0.0, 0.10),
        variable: str = "sm",
    ) -> IsmnCollection:
        """Keep sensors of ``variable`` whose depth range lies within ``depth`` (m)."""
        lo, hi = depth
        keep = [
            s for s in self.sensors if s.variable == variable and s.depth_from >= lo - 1e-9 and s.depth_to <= hi + 1e-9
        ]
        dropped = [
            f"{s.key}: depth {s.depth_from}-{s.depth_to} m outside {lo}-{hi} m"
            for s in self.sensors
            if s not in keep and s.variable == variable
        ]
        return IsmnCollection(keep, self.problems + dropped)


def _folder_identity(name: str) -> tuple[str, str] | None:
    """(network, station) from the download's ``NETWORK/STATION/file.stm`` layout, if it has one."""
    parts = Path(name.split("!", 1)[-1]).parts
    return (parts[-3], parts[-2]) if len(parts) >= 3 else None


STATIC_QUANTITIES = {
    "land cover classification": "land_cover",
    "climate classification": "climate_class",
    "saturation": "saturation",
    "clay fraction": "clay_fraction",
    "sand fraction": "sand_fraction",
    "silt fraction": "silt_fraction",
}


def parse_static_variables(text: str, depth: float = 0.05) -> dict:
    """The ISMN ``*_static_variables.csv`` (semicolon-separated): land cover and climate class (their
    descriptions; the last, newest source wins) and the soil values of the layer containing ``depth`` m."""
    out: dict = {}
    lines = [ln.split(";") for ln in text.replace("\r", "").split("\n") if ln.strip()]
    for row in lines[1:]:
        if len(row) < 6 or row[0] not in STATIC_QUANTITIES:
            continue
        key = STATIC_QUANTITIES[row[0]]
        if key in ("land_cover", "climate_class"):
            out[key] = row[5] or row[4]
            continue
        try:
            lo, hi, value = float(row[2]), float(row[3]), float(row[4])
        except ValueError:
            continue
        if lo <= depth <= hi and key not in out:
            out[key] = value
    return out


def _static_files(source: Path, problems: list[str]) -> dict[tuple[str, str], str]:
    """(network, station) -> static-variables CSV text, from a folder or zip download."""
    found: dict[tuple[str, str], str] = {}
    for name, raw in _iter_sources(source, "*_static_variables.csv"):
        ident = _folder_identity(name)
        if isinstance(raw, str):
            problems.append(raw)
        elif ident:
            found[ident] = raw.decode("utf-8", errors="replace")
    return found


def read_ismn(source: str | Path, strict: bool = False, variable: str | None = "sm") -> IsmnCollection:
    """Read the ``.stm`` files of ``variable`` (soil moisture by default; None: all) in a folder or zip.

    Files of other variables (``_ts_``, ``_p_``, ``_ta_``, ...) are skipped by their names; station
    identity comes from the download's NETWORK/STATION folders (a header name that differs is reported,
    not fatal); static variables (land cover, climate class, soil) are attached when the download has
    them. Every unreadable file is reported by name and reason (or raised if ``strict``)."""
    source = Path(source)
    if not source.exists():
        raise InputError(source, "ISMN folder or archive not found")
    sensors: list[StationSeries] = []
    problems: list[str] = []
    static = _static_files(source, problems)
    for name, raw in _iter_sources(source):
        meta = parse_filename(name)
        if variable is not None and meta is not None and meta["variable"] != variable:
            continue
        if isinstance(raw, str):
            if strict:
                raise InputError(name, raw.split(": ", 1)[-1], "sm")
            log.warning("skipping %s", raw)
            problems.append(raw)
            continue
        try:
            s = read_stm_bytes(raw, name)
        except InputError as err:
            if strict:
                raise
            log.warning("skipping %s", err)
            problems.append(str(err))
            continue
        except (ValueError, IndexError, KeyError) as exc:  # a layout this reader does not know
            if strict:
                raise InputError(name, f"unreadable ISMN file ({type(exc).__name__}: {exc})", "sm") from None
            problems.append(f"{name} [sm]: unreadable ISMN file ({type(exc).__name__}: {str(exc)[:80]})")
            continue
        if variable is not None and s.variable != variable:
            continue
        ident = _folder_identity(name)
        header = s.metadata.get("header_name", "")
        if ident and header and header != f"{ident[0]}/{ident[1]}":
            problems.append(f"{name}: header names the station '{header}', the folders '{ident[0]}/{ident[1]}' (used)")
        if ident:
            s.network, s.station = ident
        if ident in static:
            s.metadata.update(parse_static_variables(static[ident], (s.depth_from + s.depth_to) / 2))
        sensors.append(s)
    # the problems name files relative to the download (never an absolute path of this machine)
    for prefix in {f"{source}{os.sep}", f"{source.resolve()}{os.sep}"}:
        problems = [p.replace(prefix, "") for p in problems]
    return IsmnCollection(sensors, problems)


def daily_mean(series: StationSeries, flags: Iterable[str] = GOOD_FLAGS, min_hours: int = 12) -> pd.Series:
    """Daily mean of the values whose flag is in ``flags``; days with fewer than ``min_hours`` are NaN."""
    df = series.data
    keep = df["flag"].isin(tuple(flags)) & np.isfinite(df["sm"])
    kept = df.loc[keep, "sm"]
    day = kept.index.floor("D")
    grouped = kept.groupby(day)
    mean, count = grouped.mean(), grouped.count()
    return mean.where(count >= min_hours).dropna().rename(series.key)


def nearest_in_time(
    series: StationSeries,
    times: pd.DatetimeIndex,
    window: pd.Timedelta = ONE_HOUR,
    flags: Iterable[str] = GOOD_FLAGS,
) -> pd.Series:
    """Values nearest each of ``times`` (e.g. the 6 a.m. overpass) within +-``window``; NaN otherwise."""
    df = series.data
    kept = df.loc[df["flag"].isin(tuple(flags)) & np.isfinite(df["sm"]), "sm"]
    if kept.empty:
        return pd.Series(np.nan, index=times)
    out = kept.reindex(times, method="nearest", tolerance=window)
    return out


def write_header_values(
    series: StationSeries, root: str | Path, start: str | None = None, end: str | None = None
) -> Path:
    """Write one sensor as an ISMN header+values file under ``root/NETWORK/STATION/`` (atomically)."""
    df = series.data
    start = start or f"{df.index[0]:%Y%m%d}"
    end = end or f"{df.index[-1]:%Y%m%d}"
    name = (
        f"{series.network}_{series.network}_{series.station}_{series.variable}_"
        f"{series.depth_from:.6f}_{series.depth_to:.6f}_{series.sensor}_{start}_{end}.stm"
    )
    path = Path(root) / series.network / series.station / name
    header = (
        f"{series.network:<10} {series.network:<15} {series.station:<17} {series.lat:9.5f} {series.lon:11.5f} "
        f"{series.elevation:7.2f} {series.depth_from:7.2f} {series.depth_to:7.2f} {series.sensor}\n"
    )
    stamps = df.index.strftime("%Y/%m/%d %H:%M")
    values = np.char.mod("%8.4f", df["sm"].to_numpy())
    orig = df["orig_flag"].to_numpy() if "orig_flag" in df else np.full(len(df), "M")
    body = "\n".join(f"{t} {v} {f} {o}" for t, v, f, o in zip(stamps, values, df["flag"].to_numpy(), orig))
    with atomic_path(path) as tmp:
        tmp.write_text(header + body + "\n", encoding="ascii")
    return path
