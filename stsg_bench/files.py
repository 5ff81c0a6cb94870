"""Files in and out, the ground floor every layer may use: atomic writers (every output goes to a
temporary file in the destination folder, then is renamed, so a crash or a bad input never leaves a
half-written file behind) and readers of netCDF and TOML with one-line errors naming the file."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import xarray as xr

from .errors import InputError, StsgError


def _check_dir(path: Path) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StsgError(f"{parent}: cannot create output folder ({exc.strerror})") from None
    if not os.access(parent, os.W_OK):
        raise StsgError(f"{parent}: output folder is not writable")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    _check_dir(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    except OSError as exc:
        raise StsgError(f"{path.parent}: cannot write in the output folder ({exc.strerror})") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_netcdf_atomic(ds: xr.Dataset, path: str | os.PathLike, encoding: dict | None = None) -> Path:
    """Write ``ds`` as netCDF4 atomically; returns the final path."""
    with atomic_path(path, suffix=".nc.tmp") as tmp:
        try:
            ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding or {})
        except (OSError, RuntimeError) as exc:  # disk full, file size limit, HDF5 write errors
            reason = (
                exc.strerror
                if isinstance(exc, OSError) and exc.strerror
                else str(exc).splitlines()[0]
                if str(exc)
                else type(exc).__name__
            )
            raise StsgError(f"{path}: could not be written ({reason}); nothing was written there") from None
    return Path(path)


def write_text_atomic(text: str, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Build a whole folder in a temporary sibling and swap it into place when the block succeeds.

    An existing folder at ``path`` is replaced only after the new one is complete.
    """
    path = Path(path)
    _check_dir(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old)
        else:
            tmp.rename(path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


#: HDF5 chunk cache per variable and open file for lazily read data. netCDF's default (64 MiB) keeps
#: every decompressed chunk of every open file, so a lazy read of many files would grow with the period.
CHUNK_CACHE_BYTES = 4 * 1024 * 1024


def _small_chunk_cache() -> None:
    try:
        import netCDF4

        if netCDF4.get_chunk_cache()[0] > CHUNK_CACHE_BYTES:
            netCDF4.set_chunk_cache(CHUNK_CACHE_BYTES)
    except (ImportError, AttributeError):  # pragma: no cover - another netCDF engine
        pass


def open_netcdf(path: str | os.PathLike, what: str = "netCDF file", chunks: dict | None = None) -> xr.Dataset:
    """``xr.open_dataset`` with one-line errors naming the file (missing, or not readable netCDF);
    ``chunks`` gives dask-backed (lazily loaded) variables."""
    if chunks is not None:
        _small_chunk_cache()
    try:
        return xr.open_dataset(path, chunks=chunks)
    except FileNotFoundError:
        raise InputError(path, f"no such {what}") from None
    except Exception:
        raise InputError(path, f"not a readable {what}") from None


if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def read_toml(path: str | os.PathLike, what: str = "file") -> dict:
    """Parse ``path``; a missing file or invalid TOML raises :class:`InputError` naming the file."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, f"no such {what}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, f"invalid TOML ({exc})") from None
