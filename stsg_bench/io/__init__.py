"""Readers and writers of the real formats: SMAP L3 (HDF5), GLDAS Noah 2.1 (netCDF4), ISMN (.stm),
dataset cards (TOML) and atomic CF-1.8 netCDF output."""
