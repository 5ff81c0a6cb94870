"""Validation: match products to ISMN stations (and to truth on the twin), metrics with confidence
intervals, aggregations and the results cube. It scores products it is given; it never imports methods."""
from .match import MatchConfig, StationTable, at_stations, match_stations
from .metrics import METRICS, Moments, bootstrap_ci, get_metrics, score_moments
from .score import (
    ScoreConfig,
    combine,
    open_results,
    save_results,
    score_fields,
    score_insitu,
)
from .simgaps import SimGapConfig, hide_smap

__all__ = [
    "MatchConfig", "StationTable", "at_stations", "match_stations", "METRICS", "Moments", "bootstrap_ci",
    "get_metrics", "score_moments", "ScoreConfig", "combine", "open_results", "save_results", "score_fields",
    "score_insitu", "SimGapConfig", "hide_smap",
]
