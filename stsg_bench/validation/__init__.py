"""Validation: match products to ISMN stations (and to truth on the twin), metrics with confidence
intervals, aggregations and the results cube, all driven by the one loop in :mod:`.evaluate`. It scores
products it is given; it never imports methods."""

from ..plugins import load_entry_points
from . import sample_metrics  # noqa: F401  (registers the rank and triple-collocation metrics)
from .evaluate import Evaluation, FieldReference, InsituReference, ValidationConfig, evaluate, standard_references
from .match import MatchConfig, StationTable, at_stations, match_stations
from .metrics import METRICS, Moments, bootstrap_ci, get_metrics, metric_names, register_metric, score_moments
from .score import (
    ScoreConfig,
    combine,
    open_results,
    save_results,
    score_fields,
    score_insitu,
)
from .simgaps import SimGapConfig, hide_smap

load_entry_points("stsg_bench.metrics")  # metrics of installed plug-in packages

__all__ = [
    "Evaluation",
    "FieldReference",
    "InsituReference",
    "ValidationConfig",
    "evaluate",
    "standard_references",
    "MatchConfig",
    "StationTable",
    "at_stations",
    "match_stations",
    "METRICS",
    "Moments",
    "bootstrap_ci",
    "get_metrics",
    "metric_names",
    "register_metric",
    "score_moments",
    "ScoreConfig",
    "combine",
    "open_results",
    "save_results",
    "score_fields",
    "score_insitu",
    "SimGapConfig",
    "hide_smap",
]
