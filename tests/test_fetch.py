"""``stsg-bench fetch`` without the network: the granule search is stubbed at the earthaccess boundary (real
``earthaccess.DataGranule`` objects built from UMM records), the files are served by a loopback HTTP server
that can drop a connection, ignore a Range request, send a wrong size or refuse the login, and the CDS
client is a stand-in with cdsapi's ``retrieve`` signature."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import requests
import xarray as xr
from clirun import run_cli

from stsg_bench.grid import NCOLS, NROWS
from stsg_bench.io.gldas import group_files_by_day
from stsg_bench.io.smap import list_daily_files, write_spl3smp

earthaccess = pytest.importorskip("earthaccess")
from earthaccess.results import DataGranule  # noqa: E402

BBOX = ["-160.2", "18.9", "-154.8", "22.3"]
pytestmark = pytest.mark.filterwarnings("ignore:As of version 1.0:FutureWarning")  # earthaccess's own notice


class Server(http.server.ThreadingHTTPServer):
    """Files by URL path, with per-path misbehaviour: 'drop' (first response cut in half), 'ignore_range'
    (200 with the whole file to a Range request), 'short' (always one byte short), '401'."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.files: dict[str, bytes] = {}
        self.modes: dict[str, str] = {}
        self.log: list[tuple[str, str | None]] = []  # (path, Range header)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class Handler(http.server.BaseHTTPRequestHandler):
    server: Server

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        srv, path = self.server, self.path
        srv.log.append((path, self.headers.get("Range")))
        mode = srv.modes.get(path, "")
        if mode == "401":
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path not in srv.files:
            self.send_error(404)
            return
        body = srv.files[path][:-1] if mode == "short" else srv.files[path]
        rng = self.headers.get("Range")
        start = int(rng.split("=")[1].split("-")[0]) if rng and mode != "ignore_range" else 0
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        if mode == "drop":
            srv.modes[path] = ""  # only the first attempt is cut
            self.wfile.write(body[start : start + (len(body) - start) // 2])
            self.wfile.flush()
            self.connection.close()
            return
        self.wfile.write(body[start:])


@pytest.fixture
def server():
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _smap_bytes(tmp_path: Path, day: str) -> bytes:
    rng = np.random.default_rng(int(day.replace("-", "")))
    f = tmp_path / f"src_{day}.h5"
    am = rng.uniform(0.05, 0.45, (NROWS, NCOLS))
    write_spl3smp(f, day, am, am)
    return f.read_bytes()


def _gldas_bytes(tmp_path: Path, name: str) -> bytes:
    ds = xr.Dataset(
        {
            "SoilMoi0_10cm_inst": (
                ("time", "lat", "lon"),
                np.full((1, 600, 1440), 25.0, np.float32),
                {"units": "kg m-2"},
            )
        },
        coords={"time": [0.0], "lat": np.arange(-59.875, 90, 0.25), "lon": np.arange(-179.875, 180, 0.25)},
    )
    f = tmp_path / name
    ds.to_netcdf(f, encoding={"SoilMoi0_10cm_inst": {"zlib": True}})
    return f.read_bytes()


def _granule(server: Server, name: str, body: bytes, sidecar: bool = True, sized: bool = True) -> DataGranule:
    """A DataGranule as CMR returns it (UMM-G), its data file served at /data/NAME."""
    server.files[f"/data/{name}"] = body
    info = {"Name": name, "Checksum": {"Value": hashlib.md5(body).hexdigest(), "Algorithm": "MD5"}}
    if sized:
        info["SizeInBytes"] = len(body)
    else:
        info.update(Size=round(len(body) / 2**20, 1), SizeUnit="MB")
    urls = [{"URL": server.url(f"/data/{name}"), "Type": "GET DATA"}]
    if sidecar:
        urls.append({"URL": server.url(f"/data/{name}.iso.xml"), "Type": "EXTENDED METADATA"})
        urls.append({"URL": server.url(f"/data/{name}.xml"), "Type": "GET DATA"})  # served as data, not ours
    return DataGranule(
        {
            "meta": {"concept-id": f"G-{name}", "provider-id": "TEST"},
            "umm": {
                "GranuleUR": name,
                "RelatedUrls": urls,
                "DataGranule": {"ArchiveAndDistributionInformation": [info]},
                "SpatialExtent": {},
                "TemporalExtent": {},
                "CollectionReference": {},
            },
        }
    )


SMAP_NAMES = [f"SMAP_L3_SM_P_2017010{d}_R19240_001.h5" for d in (1, 2)]
GLDAS_NAMES = [f"GLDAS_NOAH025_3H.A{day}.021.nc4" for day in ("20161231.2100", "20170101.0000", "20170102.0300")]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, bytes]:
    """The served files' bytes (written once per module: a global SPL3SMP day is 34 MB)."""
    src = tmp_path_factory.mktemp("src")
    out = {n: _smap_bytes(src, f"2017-01-0{i + 1}") for i, n in enumerate(SMAP_NAMES)}
    return {**out, **{n: _gldas_bytes(src, n) for n in GLDAS_NAMES}}


@pytest.fixture
def archive(server, files, monkeypatch):
    """Two SMAP days and three GLDAS granules (one of them the day before the period, which CMR's temporal
    overlap returns), searched through a stubbed ``earthaccess.search_data``."""
    smap, gldas = SMAP_NAMES, GLDAS_NAMES
    granules = {
        "SPL3SMP": [_granule(server, n, files[n]) for n in smap],
        "GLDAS_NOAH025_3H": [_granule(server, n, files[n], sized=False) for n in gldas],
    }
    calls = []

    def search_data(**kw):
        calls.append(kw)
        return granules[kw["short_name"]]

    class Auth:
        authenticated = True

    monkeypatch.setattr(earthaccess, "search_data", search_data)
    monkeypatch.setattr(earthaccess, "login", lambda strategy="all", **kw: Auth())
    monkeypatch.setattr(earthaccess, "get_requests_https_session", requests.Session)
    return {"smap": smap, "gldas": gldas, "calls": calls}


def _fetch(out: Path, *extra: str):
    return run_cli("fetch", "--bbox", *BBOX, "--period", "2017-01-01", "2017-01-02", "--out", str(out), *extra)


def test_dry_run_lists_files_and_sizes(archive, server, tmp_path):
    res = _fetch(tmp_path / "out", "--dry-run")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    smap_size = sum(len(server.files[f"/data/{n}"]) for n in archive["smap"]) / 2**30
    assert lines[0].startswith(f"smap: SPL3SMP v009: 2 files, {smap_size:.2f} GiB;")
    assert "SMAP_L3_SM_P_20170101_R19240_001.h5 ... SMAP_L3_SM_P_20170102_R19240_001.h5" in lines[0]
    assert lines[1].startswith("gldas: GLDAS_NOAH025_3H v2.1: 2 files, ~0.00 GiB;")
    assert not (tmp_path / "out").exists() and server.log == []  # nothing downloaded, nothing written
    call = archive["calls"][0]
    assert call["version"] == "009" and call["bounding_box"] == (-160.2, 18.9, -154.8, 22.3)
    assert call["temporal"] == ("2017-01-01T00:00:00Z", "2017-01-02T23:59:59Z")


def test_fetch_writes_the_readers_layout_and_a_rerun_skips(archive, server, tmp_path):
    out = tmp_path / "out"
    res = _fetch(out)
    assert res.returncode == 0, res.stderr
    assert "4 downloaded (0 resumed), 0 already complete" in res.stdout and "card new NAME" in res.stdout
    assert [p.name for _, p in list_daily_files(out / "smap")] == archive["smap"]
    days = group_files_by_day(out / "gldas")
    assert sorted(str(d.date()) for d in days) == ["2017-01-01", "2017-01-02"]  # not 2016-12-31
    assert (out / "gldas" / "2017" / "002" / archive["gldas"][2]).is_file()
    for name in archive["smap"]:  # byte for byte what was served
        assert (out / "smap" / name).read_bytes() == server.files[f"/data/{name}"]
    assert not list(out.rglob("*.part")) and not list(out.rglob("*.xml"))
    manifest = json.loads((out / "fetch.json").read_text())
    req = manifest["requests"][0]
    assert req["complete"] and req["sources"]["gldas"] == {
        "short_name": "GLDAS_NOAH025_3H",
        "version": "2.1",
        "stream": "main",
    }
    assert len(manifest["files"]) == 4 and manifest["files"][f"smap/{archive['smap'][0]}"]["checksum"][0] == "md5"
    n = len(server.log)
    res = _fetch(out)
    assert res.returncode == 0 and "0 downloaded (0 resumed), 4 already complete" in res.stdout
    assert len(server.log) == n  # nothing requested again


def test_dropped_connection_and_partial_file_resume_with_range(archive, server, tmp_path):
    out = tmp_path / "out"
    first = f"/data/{archive['smap'][0]}"
    server.modes[first] = "drop"
    second = archive["smap"][1]
    body = server.files[f"/data/{second}"]
    (out / "smap").mkdir(parents=True)
    (out / "fetch.json").write_text(json.dumps({"requests": [], "files": {}}))  # an earlier, interrupted run
    (out / "smap" / f"{second}.part").write_bytes(body[:1000])
    res = _fetch(out, "smap")
    assert res.returncode == 0, res.stderr
    assert "2 downloaded (2 resumed)" in res.stdout
    assert (out / "smap" / archive["smap"][0]).read_bytes() == server.files[first]
    assert (out / "smap" / second).read_bytes() == body
    ranges = [r for p, r in server.log if p == f"/data/{second}"]
    assert ranges == ["bytes=1000-"]
    dropped = [r for p, r in server.log if p == first]
    assert dropped[0] is None and dropped[1] is not None and dropped[1].startswith("bytes=")


def test_server_ignoring_range_still_gives_the_whole_file(archive, server, tmp_path):
    out = tmp_path / "out"
    name = archive["smap"][0]
    server.modes[f"/data/{name}"] = "ignore_range"
    (out / "smap").mkdir(parents=True)
    (out / "fetch.json").write_text(json.dumps({"requests": [], "files": {}}))
    (out / "smap" / f"{name}.part").write_bytes(b"x" * 500)  # stale bytes: must not stay in front
    assert _fetch(out, "smap").returncode == 0
    assert (out / "smap" / name).read_bytes() == server.files[f"/data/{name}"]


def test_wrong_size_is_a_one_line_error_and_nothing_lands(archive, server, tmp_path):
    out = tmp_path / "out"
    name = archive["smap"][1]
    server.modes[f"/data/{name}"] = "short"
    res = _fetch(out, "smap", "--retries", "1")
    assert res.returncode == 2
    assert name in res.stderr and "the granule metadata say" in res.stderr and "2 attempts" in res.stderr
    assert res.stderr.strip().count("\n") == 0
    assert not (out / "smap" / name).exists()
    assert (out / "smap" / archive["smap"][0]).is_file()  # the good file is kept for the rerun
    assert not json.loads((out / "fetch.json").read_text())["requests"][0]["complete"]


def test_refused_login_stops_with_one_line(archive, server, tmp_path):
    for name in archive["smap"]:
        server.modes[f"/data/{name}"] = "401"
    res = _fetch(tmp_path / "out", "smap", "--workers", "1")
    assert res.returncode == 2 and "HTTP 401" in res.stderr and ".netrc" in res.stderr
    assert res.stderr.strip().count("\n") == 0
    assert len(server.log) == 1  # no retries, nothing else tried


def test_missing_credentials_are_a_one_line_error(archive, tmp_path, monkeypatch):
    def login(strategy="all", **kw):
        raise earthaccess.exceptions.LoginStrategyUnavailable(f"no credentials for strategy {strategy}")

    monkeypatch.setattr(earthaccess, "login", login)
    res = _fetch(tmp_path / "out", "smap")
    assert res.returncode == 2 and "Earthdata login failed" in res.stderr and "EARTHDATA_USERNAME" in res.stderr
    assert res.stderr.strip().count("\n") == 0


def test_a_folder_that_is_not_a_fetch_folder_is_refused(archive, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    res = _fetch(out, "smap")
    assert res.returncode == 2 and "not a stsg-bench fetch folder" in res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_era5_land_month_by_month_through_cdsapi(tmp_path, monkeypatch):
    cdsapi = pytest.importorskip("cdsapi")
    requests_seen = []

    class Client:  # cdsapi.Client's retrieve(name, request, target)
        def __init__(self, *a, **kw):
            pass

        def retrieve(self, name, request, target):
            requests_seen.append((name, request))
            days = [f"{request['year']}-{request['month']}-{d}T{t}" for d in request["day"] for t in request["time"]]
            n, w, s, e = request["area"]
            ds = xr.Dataset(
                {
                    "swvl1": (
                        ("valid_time", "latitude", "longitude"),
                        np.full((len(days), 3, 4), 0.3),
                        {"units": "m3 m-3"},
                    )
                },
                coords={
                    "valid_time": np.array(days, dtype="datetime64[ns]"),
                    "latitude": np.linspace(n, s, 3),
                    "longitude": np.linspace(w, e, 4),
                },
            )
            ds.to_netcdf(target)

    monkeypatch.setattr(cdsapi, "Client", Client)
    out = tmp_path / "out"
    args = ["fetch", "era5-land", "--bbox", *BBOX, "--period", "2017-01-30", "2017-02-02", "--out", str(out)]
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    assert "2 month(s) retrieved, 0 already on disk" in res.stdout
    assert [r["month"] for _, r in requests_seen] == ["01", "02"]
    assert requests_seen[0][1]["day"] == ["30", "31"] and requests_seen[1][1]["day"] == ["01", "02"]
    assert requests_seen[0][0] == "reanalysis-era5-land" and requests_seen[0][1]["area"] == [22.3, -160.2, 18.9, -154.8]
    with xr.open_dataset(out / "era5_land" / "era5_land_2017_02.nc") as ds:
        assert ds.sizes["valid_time"] == 8
    res = run_cli(*args)
    assert "0 month(s) retrieved, 2 already on disk" in res.stdout and len(requests_seen) == 2
