"""``stsg-bench fetch``: SMAP L3 and GLDAS Noah from NASA Earthdata (earthaccess) and ERA5-Land from the
Copernicus CDS (cdsapi) for a bounding box and period, into one folder laid out as the readers read it,
ready for ``stsg-bench card new NAME --smap OUT/smap --gldas OUT/gldas``.

The folder is resumable: a rerun skips complete files and resumes partial ones. ``OUT/fetch.json`` records
each request (products, collections and versions, GLDAS's production stream, box, period) and the files
with their sizes and checksums; a folder that exists without one is refused (it is not ours to fill).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, StsgError
from ..files import guard_output, output_lock, write_text_atomic
from ..io import cds, earthdata
from ..io.download import Remote, fetch_all, is_complete
from ..provenance import software

PRODUCTS = ("smap", "gldas", "era5-land")
MANIFEST = "fetch.json"


@dataclass
class FetchRequest:
    products: tuple[str, ...]
    bbox: tuple[float, float, float, float]
    period: tuple[str, str]
    gldas_stream: str = "main"

    def __post_init__(self) -> None:
        unknown = [p for p in self.products if p not in PRODUCTS]
        if unknown:
            raise ConfigError(f"unknown product(s) {', '.join(unknown)} to fetch (valid: {', '.join(PRODUCTS)})")
        w, s, e, n = self.bbox
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            raise ConfigError(f"--bbox {w} {s} {e} {n}: need -180 <= W < E <= 180 and -90 <= S < N <= 90 (degrees)")
        if self.period[0] > self.period[1]:
            raise ConfigError(f"--period {self.period[0]} {self.period[1]}: the start is after the end")

    def record(self) -> dict:
        colls: dict[str, dict] = {
            p: {"short_name": c.short_name, "version": c.version}
            for p in self.products
            if p != "era5-land"
            for c in [earthdata.collection(p, self.gldas_stream)]
        }
        if "gldas" in colls:
            colls["gldas"]["stream"] = self.gldas_stream
        if "era5-land" in self.products:
            colls["era5-land"] = {"dataset": cds.DATASET, "variable": cds.VARIABLE, "times_utc": list(cds.TIMES)}
        return {"products": list(self.products), "bbox": list(self.bbox), "period": list(self.period), "sources": colls}


def search_all(req: FetchRequest) -> dict[str, list[Remote]]:
    """The Earthdata files of each requested product (ERA5-Land is requested month by month instead)."""
    return {p: earthdata.search(p, req.bbox, req.period, req.gldas_stream) for p in req.products if p != "era5-land"}


def dry_run(req: FetchRequest, out: Path | None = None) -> str:
    """What a fetch would transfer: granules, total size, first and last file per product, and how many
    are already complete in ``out``."""
    lines = []
    for product, remotes in search_all(req).items():
        c = earthdata.collection(product, req.gldas_stream)
        sizes = [r.size if r.size is not None else r.approx_size for r in remotes]
        known = [float(x) for x in sizes if x is not None]
        rounded = any(r.size is None and r.approx_size is not None for r in remotes)
        size = f"{'~' if rounded else ''}{sum(known) / 2**30:.2f} GiB"
        if len(known) < len(remotes):
            size += f" (+{len(remotes) - len(known)} of unknown size)"
        done = sum(is_complete(out / r.path, r) for r in remotes) if out is not None and out.is_dir() else 0
        span = f"{Path(remotes[0].path).name} ... {Path(remotes[-1].path).name}" if remotes else "no granules"
        lines.append(
            f"{product}: {c.short_name} v{c.version}: {len(remotes)} files, {size}; {span}; {done} already complete"
        )
    if "era5-land" in req.products:
        months = cds.monthly_requests(req.bbox, req.period)
        lines.append(
            f"era5-land: {cds.DATASET} {cds.VARIABLE}: {len(months)} monthly CDS request(s) "
            f"({Path(months[0][0]).name} ... {Path(months[-1][0]).name}); size known only when the CDS answers"
        )
    return "\n".join(lines)


def _check_folder(out: Path) -> None:
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise StsgError(f"{out}: exists and is not a stsg-bench fetch folder (no {MANIFEST}); choose another --out")


def _write_manifest(out: Path, req: FetchRequest, files: dict[str, list[Remote]], complete: bool) -> None:
    path = out / MANIFEST
    old = json.loads(path.read_text()) if path.is_file() else {"requests": [], "files": {}}
    entry = {**req.record(), "complete": complete, "software": software()}
    requests = [
        r
        for r in old["requests"]
        if r.get("products") != entry["products"]
        or r.get("bbox") != entry["bbox"]
        or r.get("period") != entry["period"]
    ]
    filed = dict(old["files"])
    for remotes in files.values():
        for r in remotes:
            filed[r.path] = {"url": r.url, "size": r.size, "checksum": list(r.checksum) if r.checksum else None}
    doc = {"requests": [*requests, entry], "files": dict(sorted(filed.items()))}
    write_text_atomic(json.dumps(doc, indent=1) + "\n", path)


def fetch_command(
    req: FetchRequest,
    out: str | Path,
    workers: int = 4,
    retries: int = 3,
    login: str = "all",
    progress: bool = False,
    backoff: float = 2.0,
) -> str:
    """Fetch into ``out`` (resumable); returns the summary printed by the command line."""
    out = Path(out)
    guard_output(out, folder=True, resume=True)
    _check_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    with output_lock(out):
        files = search_all(req)
        _write_manifest(out, req, files, complete=False)
        lines = []
        remotes = [r for rs in files.values() for r in rs]
        if remotes:
            session = earthdata.login_session(login)
            report = fetch_all(
                session, remotes, out, workers=workers, retries=retries, backoff=backoff, progress=progress
            )
            lines.append(f"Earthdata: {report.summary()}")
        if "era5-land" in req.products:
            got, skipped = cds.fetch_era5_land(req.bbox, req.period, out)
            lines.append(f"ERA5-Land: {len(got)} month(s) retrieved, {len(skipped)} already on disk")
        _write_manifest(out, req, files, complete=True)
    hint = []
    if "smap" in req.products and "gldas" in req.products:
        w, s, e, n = req.bbox
        hint.append(
            f"next: stsg-bench card new NAME --bbox {w:g} {s:g} {e:g} {n:g} --period {req.period[0]} {req.period[1]} "
            f"--smap {out / 'smap'} --gldas {out / 'gldas'} [--ismn DIR]"
        )
    return "\n".join([*lines, *hint])
