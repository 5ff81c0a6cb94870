"""Readers and the twin: GLDAS global day (8 files, regridding included) and twin generation."""

import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

from stsg_bench.io.gldas import read_gldas_folder
from stsg_bench.twin import TwinWorld, generate_twin, get_spec


class GldasGlobalDay:
    timeout = 300

    def setup(self):
        self.dir = Path(tempfile.mkdtemp())
        lat = np.arange(-59.875, 90, 0.25)
        lon = np.arange(-179.875, 180, 0.25)
        rng = np.random.default_rng(0)
        for h in range(0, 24, 3):
            v = rng.uniform(5, 45, (1, 600, 1440)).astype(np.float32)
            v[:, :60] = np.nan
            xr.Dataset(
                {"SoilMoi0_10cm_inst": (("time", "lat", "lon"), v, {"units": "kg m-2"})},
                coords={"time": [0.0], "lat": lat, "lon": lon},
            ).to_netcdf(
                self.dir / f"GLDAS_NOAH025_3H.A20170101.{h:02d}00.021.nc4",
                encoding={"SoilMoi0_10cm_inst": {"zlib": True, "_FillValue": -9999.0}},
            )

    def time_read_and_regrid_global_day(self):
        read_gldas_folder(self.dir)


class Twin:
    timeout = 300

    def setup(self):
        pass

    def time_small(self):
        generate_twin("small", seed=0, n_stations=0)

    def time_global_one_day(self):
        world = TwinWorld(get_spec("global", ndays=1, spinup_days=0), seed=0)
        next(world.iter_days())
