"""Resumable, parallel, retried HTTPS downloads into one output folder (the machinery under
``stsg-bench fetch``; the granule search lives in :mod:`.earthdata`).

Each file is streamed into ``NAME.part`` beside its destination; an interrupted download resumes from the
part's size with an HTTP ``Range`` request (a server that ignores it sends the whole file again, which is
detected); the finished file is checked against the size and checksum the granule metadata give and only
then renamed into place, so a file under its final name is always complete. A rerun skips complete files
(size, else checksum). Dropped connections and server errors (5xx) are retried with exponential backoff;
a refused login (401/403) stops everything at once with a one-line error.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import StsgError
from ..progress import bar

log = logging.getLogger(__name__)
BLOCK = 1 << 20  # bytes per streamed chunk
HASHES = {"md5": hashlib.md5, "sha256": hashlib.sha256, "sha-256": hashlib.sha256, "sha512": hashlib.sha512}


class LoginRefused(StsgError):
    """The server refused the credentials (HTTP 401/403): nothing more is tried."""


class TransferError(Exception):
    """One attempt failed in a way a retry may fix (dropped connection, 5xx, wrong size or checksum)."""


@dataclass(frozen=True)
class Remote:
    """One file to fetch: where from, where to (relative to the output folder), and what it must be."""

    url: str
    path: str
    size: int | None = None  # bytes, from the granule metadata
    checksum: tuple[str, str] | None = None  # (algorithm, hex digest), e.g. ("md5", "...")
    approx_size: float | None = None  # bytes from a rounded size in the metadata (for listings, never a check)


@dataclass
class FetchReport:
    """What a fetch did, file by file."""

    downloaded: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes: int = 0

    def summary(self) -> str:
        return (
            f"{len(self.downloaded)} downloaded ({len(self.resumed)} resumed), {len(self.skipped)} already "
            f"complete, {self.bytes / 2**20:.1f} MiB transferred"
        )


def digest(path: Path, algorithm: str) -> str:
    h = HASHES[algorithm.lower()]()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def is_complete(path: Path, remote: Remote) -> bool:
    """A file already in place counts as complete when its size matches the metadata (else its checksum;
    with neither given, when it exists: it was renamed into place only after a finished transfer)."""
    if not path.is_file():
        return False
    if remote.size is not None:
        return path.stat().st_size == remote.size
    if remote.checksum is not None and remote.checksum[0].lower() in HASHES:
        return digest(path, remote.checksum[0]) == remote.checksum[1].lower()
    return True


def _verify(part: Path, remote: Remote) -> None:
    size = part.stat().st_size
    if remote.size is not None and size != remote.size:
        part.unlink()
        raise TransferError(f"got {size} bytes, the granule metadata say {remote.size}")
    if remote.checksum is not None and remote.checksum[0].lower() in HASHES:
        algorithm, expected = remote.checksum
        if digest(part, algorithm) != expected.lower():
            part.unlink()
            raise TransferError(f"{algorithm} checksum differs from the granule metadata")


def _transfer(session: Any, remote: Remote, part: Path, timeout: float) -> tuple[int, bool]:
    """One attempt: stream the rest of ``part``; returns (bytes written, resumed?)."""
    import requests

    offset = part.stat().st_size if part.exists() else 0
    if remote.size is not None and offset > remote.size:
        part.unlink()
        offset = 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        with session.get(remote.url, headers=headers, stream=True, timeout=timeout) as r:
            if r.status_code in (401, 403):
                raise LoginRefused(
                    f"{remote.url}: the server refused the login (HTTP {r.status_code}); check the Earthdata "
                    "credentials (EARTHDATA_USERNAME/EARTHDATA_PASSWORD, EARTHDATA_TOKEN or ~/.netrc) and that the "
                    "data's application is authorised in your Earthdata profile"
                )
            if r.status_code == 416 and remote.size is not None and offset == remote.size:
                return 0, True  # the part was already whole
            if r.status_code >= 500 or r.status_code == 416:
                raise TransferError(f"HTTP {r.status_code}")
            if r.status_code >= 400:
                raise StsgError(f"{remote.url}: HTTP {r.status_code} ({r.reason})")
            resumed = bool(offset) and r.status_code == 206
            written = 0
            with open(part, "ab" if resumed else "wb") as f:  # 200 to a range request: the whole file again
                for block in r.iter_content(BLOCK):
                    f.write(block)
                    written += len(block)
            return written, resumed
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
        raise TransferError(f"connection: {type(exc).__name__}") from None


def fetch_one(
    session: Any, remote: Remote, root: Path, retries: int = 3, backoff: float = 2.0, timeout: float = 60.0
) -> tuple[str, int]:
    """Fetch one file into ``root``; returns ("skipped" | "downloaded" | "resumed", bytes transferred)."""
    dest = root / remote.path
    if is_complete(dest, remote):
        return "skipped", 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    total, resumed = 0, part.exists()
    for attempt in range(retries + 1):
        try:
            n, _ = _transfer(session, remote, part, timeout)
            total += n
            _verify(part, remote)
            os.replace(part, dest)
            return ("resumed" if resumed else "downloaded"), total
        except TransferError as err:
            if attempt == retries:
                raise StsgError(f"{remote.path}: {err} ({retries + 1} attempts); rerun to resume") from None
            resumed = resumed or part.exists()
            wait = backoff * 2**attempt
            log.info("%s: %s; retrying in %.1f s", remote.path, err, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def fetch_all(
    session: Any,
    remotes: Sequence[Remote],
    root: str | Path,
    workers: int = 4,
    retries: int = 3,
    backoff: float = 2.0,
    progress: bool = False,
) -> FetchReport:
    """Fetch ``remotes`` into ``root`` with ``workers`` parallel transfers. A refused login stops at once;
    other failures are collected and reported together after every other file was tried."""
    root = Path(root)
    report = FetchReport()
    failures: list[str] = []
    refused = threading.Event()  # a refused login: the transfers not yet started are not tried

    def task(remote: Remote) -> tuple[str, int]:
        if refused.is_set():
            return "cancelled", 0
        try:
            return fetch_one(session, remote, root, retries, backoff)
        except LoginRefused:
            refused.set()
            raise

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(task, r): r for r in remotes}
        done = as_completed(futures)
        for fut in bar(done, total=len(futures), desc="fetch", unit="file") if progress else done:
            remote = futures[fut]
            try:
                status, n = fut.result()
            except LoginRefused:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            except StsgError as err:
                failures.append(str(err))
                continue
            report.bytes += n
            if status == "cancelled":
                continue
            if status == "skipped":
                report.skipped.append(remote.path)
            else:
                report.downloaded.append(remote.path)
                if status == "resumed":
                    report.resumed.append(remote.path)
    if failures:
        raise StsgError(f"{len(failures)} of {len(remotes)} file(s) not fetched (first: {sorted(failures)[0]})")
    return report
