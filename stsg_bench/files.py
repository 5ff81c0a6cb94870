"""Files in and out, the ground floor every layer may use.

* Atomic writers: every output goes to a temporary file or folder beside its target, named
  ``.NAME.PID.TOKEN.stsg-tmp`` (created exclusively), then is renamed, so a crash or a bad input never
  leaves a half-written output. Leftovers of dead runs (that exact name form, PID no longer running) are
  removed the next time the same output is written; nothing else is ever removed.
* :func:`guard_output` checks an output location before any long work: an existing output is replaced
  only with ``overwrite``; an output equal to or inside an input, or a folder output that holds an input,
  is refused; the parent folder must be writable. :func:`output_lock` keeps a second run from writing
  the same output at the same time.
* Readers of netCDF and TOML with one-line errors naming the file; netCDF goes out CF-1.8 clean and comes
  back as written (:mod:`stsg_bench.cf`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import xarray as xr

from .cf import from_cf, to_cf
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


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


#: Every temporary file, folder or lock this package makes ends in this suffix, and a temporary's name is
#: ``.NAME.PID.TOKEN`` + suffix with a random token, created exclusively: no user file is named like that.
TEMP_SUFFIX = ".stsg-tmp"
LOCK_SUFFIX = ".stsg-lock"
_LOCK_HEAD = "stsg-bench lock pid "
_TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"


def _temp_prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}."


def _temp_pid(path: Path, cand: Path) -> int | None:
    """The PID in ``cand``'s name when it is one of our temporaries of ``path`` (``.NAME.PID.TOKEN.stsg-tmp``,
    TOKEN from :mod:`tempfile`), else None."""
    head, name = f".{path.name}.", cand.name
    if not (name.startswith(head) and name.endswith(TEMP_SUFFIX)):
        return None
    parts = name[len(head) : -len(TEMP_SUFFIX)].split(".")
    if len(parts) != 2 or not parts[0].isdigit():
        return None
    token = parts[1]
    if len(token) < 8 or any(c not in _TOKEN_CHARS for c in token):
        return None
    return int(parts[0])


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files/folders that dead runs left beside ``path``: only names this module
    makes (``.NAME.PID.TOKEN.stsg-tmp``) whose PID no longer runs; any other file is left alone."""
    path = Path(path)
    removed: list[Path] = []
    if not path.parent.is_dir():
        return removed
    for cand in path.parent.iterdir():
        pid = _temp_pid(path, cand)
        if pid is None or _alive(pid):
            continue
        with contextlib.suppress(OSError):
            shutil.rmtree(cand) if cand.is_dir() and not cand.is_symlink() else cand.unlink()
            removed.append(cand)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    _check_dir(path)
    remove_stale_temps(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
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


def checksummed(ds: xr.Dataset, encoding: dict | None = None) -> dict:
    """``encoding`` with HDF5 Fletcher-32 checksums on every numeric variable of two or more dimensions,
    so that a file damaged later (flipped or lost bytes in its data) fails to read instead of giving
    other numbers (:func:`damaged_input` then names it)."""
    enc = {k: dict(v) for k, v in (encoding or {}).items()}
    for name, var in ds.variables.items():
        if var.ndim >= 2 and var.dtype.kind in "iufb":
            enc.setdefault(str(name), {}).setdefault("fletcher32", True)
    return enc


def write_netcdf_atomic(ds: xr.Dataset, path: str | os.PathLike, encoding: dict | None = None) -> Path:
    """Write ``ds`` as CF-1.8 netCDF4 (:func:`stsg_bench.cf.to_cf`) atomically, its data checksummed
    (:func:`checksummed`); returns the path."""
    ds, encoding = to_cf(ds, encoding)
    with atomic_path(path) as tmp:
        try:
            ds.to_netcdf(tmp, engine="netcdf4", encoding=checksummed(ds, encoding))
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


#: an output or input path with this suffix is a Zarr store (a folder), not a netCDF file
ZARR_SUFFIX = ".zarr"
#: netCDF/HDF5-only encoding keys, dropped for Zarr (which compresses every chunk by default)
_NETCDF_ONLY = (
    "zlib",
    "complevel",
    "fletcher32",
    "shuffle",
    "contiguous",
    "chunksizes",
    "endian",
    "least_significant_digit",
)


def is_zarr(path: str | os.PathLike) -> bool:
    return Path(path).suffix == ZARR_SUFFIX


def write_dataset_atomic(ds: xr.Dataset, path: str | os.PathLike, encoding: dict | None = None) -> Path:
    """Write ``ds`` CF-1.8 clean, atomically: a Zarr store when ``path`` ends in ``.zarr`` (built in a
    temporary folder and swapped into place), else netCDF-4 (:func:`write_netcdf_atomic`)."""
    if not is_zarr(path):
        return write_netcdf_atomic(ds, path, encoding)
    ds, enc = to_cf(ds, encoding)
    enc = {
        k: {e: v for e, v in d.items() if e not in _NETCDF_ONLY and not (e == "dtype" and v == "S1")}
        for k, d in enc.items()
    }
    with atomic_directory(path) as tmp:
        try:
            ds.to_zarr(tmp, mode="w", encoding=enc, consolidated=True, zarr_format=2)  # the most widely read
        except ImportError:
            raise StsgError(f"{path}: writing Zarr needs the zarr package (pip install 'stsg-bench[zarr]')") from None
        except (OSError, RuntimeError) as exc:
            raise StsgError(f"{path}: could not be written ({exc}); nothing was written there") from None
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
    remove_stale_temps(path)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent))
            path.rename(old)  # onto the empty folder just made: a name no other file has
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


#: netCDF files this process opened, newest last: a read that fails later, deep inside HDF5 (a damaged or
#: truncated file), is traced back to one of them by :func:`damaged_input`.
_OPENED: dict[Path, str] = {}


def open_netcdf(path: str | os.PathLike, what: str = "netCDF file", chunks: dict | None = None) -> xr.Dataset:
    """``xr.open_dataset`` with one-line errors naming the file (missing, special, or not readable netCDF);
    ``chunks`` gives dask-backed (lazily loaded) variables."""
    if chunks is not None:
        _small_chunk_cache()
    p = Path(path)
    if is_zarr(p) and p.is_dir():
        return _open_zarr(p, what, chunks)
    if p.exists() and not p.is_file():
        raise InputError(path, f"is {'a folder' if p.is_dir() else 'not a regular file'}, not a {what}")
    try:
        ds = xr.open_dataset(path, chunks=chunks)
    except FileNotFoundError:
        raise InputError(path, f"no such {what}") from None
    except Exception:
        raise InputError(path, f"not a readable {what}") from None
    _OPENED.pop(p, None)
    _OPENED[p] = what
    return from_cf(ds)


def _open_zarr(path: Path, what: str, chunks: dict | None) -> xr.Dataset:
    """A Zarr store written by :func:`write_dataset_atomic` (or any with CF metadata)."""
    try:
        ds = xr.open_dataset(path, engine="zarr", chunks=chunks)
    except ImportError:
        raise InputError(
            path, f"reading a Zarr {what} needs the zarr package (pip install 'stsg-bench[zarr]')"
        ) from None
    except Exception:
        raise InputError(path, f"not a readable Zarr {what}") from None
    return from_cf(ds)


def _is_read_error(exc: BaseException) -> bool:
    text = str(exc)
    return isinstance(exc, (RuntimeError, OSError)) and ("NetCDF" in text or "HDF" in text)


def _read_through(var, block_bytes: int = 1 << 24) -> None:
    """Read every value of a netCDF4 variable, about ``block_bytes`` at a time along its first axis."""
    if not var.shape:
        var[...]
        return
    row_bytes = max(1, var.size // max(1, var.shape[0])) * getattr(var.dtype, "itemsize", 8)
    step = max(1, block_bytes // row_bytes)
    for i in range(0, var.shape[0], step):
        var[i : i + step]


def damaged_input(exc: BaseException) -> InputError | None:
    """After a netCDF/HDF5 read failed mid-run, name the damaged file: each file this process opened
    (newest first) is read through, block by block, until one fails. None if ``exc`` is not such a
    read error or no opened file fails now."""
    if not _is_read_error(exc):
        return None
    import netCDF4

    for path, what in reversed(list(_OPENED.items())):
        name = ""
        try:
            with netCDF4.Dataset(path) as nc:
                for name in list(nc.variables):
                    _read_through(nc.variables[name])
        except Exception as err:  # noqa: BLE001 - any failure to read through is the damage we look for
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            return InputError(path, f"damaged or truncated {what}: reading it failed ({reason})", name or None)
    return None


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
    except UnicodeDecodeError:
        raise InputError(path, f"not a UTF-8 text {what} (TOML files are UTF-8)") from None
    except IsADirectoryError:
        raise InputError(path, f"is a folder, not a {what}") from None
    except OSError as exc:
        raise InputError(path, f"cannot read the {what} ({exc.strerror})") from None


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def guard_output(
    path: str | os.PathLike,
    inputs=(),
    overwrite: bool = False,
    folder: bool = False,
    resume: bool = False,
) -> Path:
    """Check that ``path`` may be written before any long work starts (one-line errors naming it).

    ``inputs``: files or folders this run reads (None entries are skipped). A ``folder`` output is
    replaced as a whole, so it may not hold an input either. ``resume``: an existing output is the same
    run's earlier, unfinished work (checked by the caller), not something to protect."""
    out = Path(path)
    folder = folder or is_zarr(out)  # a Zarr store is a folder, replaced as a whole
    real = out.resolve()
    for inp in inputs:
        if inp is None:
            continue
        src = Path(inp).resolve()
        if real == src:
            raise StsgError(f"{out}: the output is also an input of this run; choose another output")
        if _inside(real, src) and src.is_dir():
            raise StsgError(f"{out}: the output lies inside the input folder {inp}; choose another output")
        if folder and _inside(src, real):
            raise StsgError(f"{out}: the output folder holds the input {inp}, which writing it would remove")
    if out.exists() or out.is_symlink():
        if folder != out.is_dir():
            kind = "a folder" if out.is_dir() else "a file"
            raise StsgError(f"{out}: exists and is {kind}; the output must be {'a folder' if folder else 'a file'}")
        if folder and (resume or not any(out.iterdir())):
            pass  # the same run's unfinished work (the caller checks it), or an empty folder: nothing to lose
        elif not overwrite:
            raise StsgError(f"{out}: exists; give --overwrite to replace it")
    _check_dir(out)
    remove_stale_temps(out)
    return out


@contextlib.contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold ``.NAME.stsg-lock`` beside ``path`` while writing it; a second run gets a one-line error. A lock
    left by a dead run is taken over; a file of that name that is not our lock is never removed."""
    path = Path(path)
    _check_dir(path)
    lock = path.parent / f".{path.name}{LOCK_SUFFIX}"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                text = lock.read_text(encoding="ascii", errors="replace").strip() if lock.is_file() else ""
            except OSError:
                text = ""
            pid = (
                int(text[len(_LOCK_HEAD) :]) if text.startswith(_LOCK_HEAD) and text[len(_LOCK_HEAD) :].isdigit() else 0
            )
            if not pid:
                raise StsgError(f"{path}: {lock.name} beside it is not an stsg-bench lock; move it away") from None
            if _alive(pid):
                raise StsgError(f"{path}: another stsg-bench run (pid {pid}) is writing this output") from None
            with contextlib.suppress(OSError):
                lock.unlink()  # stale: its run is gone
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{_LOCK_HEAD}{os.getpid()}")
        break
    else:  # pragma: no cover - lost a race twice
        raise StsgError(f"{path}: could not take the output lock {lock}")
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()


def copy_atomic(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy ``src`` onto ``dst`` through a temporary file: ``dst`` is either the old or the new file."""
    with atomic_path(dst) as tmp:
        try:
            shutil.copyfile(src, tmp)
        except OSError as exc:
            raise StsgError(f"{dst}: could not be written ({exc.strerror}); the old file is unchanged") from None
    return Path(dst)
