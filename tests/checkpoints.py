"""Test helper: a checkpoint's state with config settings changed, as a file with those settings would hold."""

from __future__ import annotations

import dataclasses

from stsg_bench.fusion.config import from_record


def with_config(state: dict, **settings) -> dict:
    """``state`` with its (grouped) config changed by setting name, e.g. ``infer_chunk_days=7``."""
    return {**state, "config": dataclasses.asdict(from_record(state["config"]).replace(**settings))}
