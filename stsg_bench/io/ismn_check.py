"""``stsg-bench ismn check DIR``: what an ISMN download holds, before a case is scored against it.

ISMN has no download API: data are ordered on the portal (https://ismn.earth, "Data Access": choose the
networks, the period and the variables, the format "CEOP" or "Header + values", download the zip). This
check reads the download (folder or zip) as the scoring will and lists, per network, the stations and
soil-moisture sensors, their depths and period, how many of them a depth range keeps and the share of
hourly values with the kept quality flags; files it cannot read are named with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .ismn import GOOD_FLAGS, IsmnCollection, StationSeries, read_ismn


@dataclass
class IsmnSummary:
    """One row per network (``table``), the whole download's figures and the unreadable files."""

    table: pd.DataFrame
    variables: dict[str, int]  # variable -> number of sensors (all variables in the download)
    period: tuple[str, str]
    problems: list[str]

    def format(self, max_problems: int = 10) -> str:
        """Plain-text summary for the terminal."""
        with pd.option_context("display.width", 160, "display.max_rows", 500):
            lines = [self.table.to_string(index=False)]
        total = self.table[["stations", "sensors", "kept"]].sum()
        lines.append(
            f"\n{total['stations']} stations, {total['sensors']} soil-moisture sensors "
            f"({total['kept']} in the depth range) from {self.period[0]} to {self.period[1]}"
        )
        lines.append("variables: " + ", ".join(f"{k} ({n})" for k, n in sorted(self.variables.items())))
        notes = [p for p in self.problems if p.endswith("(used)")]  # read, with a remark
        skipped = [p for p in self.problems if not p.endswith("(used)")]
        for title, items in ((f"{len(skipped)} file(s) not read:", skipped), (f"{len(notes)} note(s):", notes)):
            if items:
                lines.append(title)
                lines += [f"  {p}" for p in items[:max_problems]]
                lines += [f"  ... and {len(items) - max_problems} more"] if len(items) > max_problems else []
        return "\n".join(lines)


def _network_row(network: str, sensors: list[StationSeries], depth, flags) -> dict:
    lo, hi = depth
    kept = [s for s in sensors if s.depth_from >= lo - 1e-9 and s.depth_to <= hi + 1e-9]
    n_values = sum(int(np.isfinite(s.data["sm"]).sum()) for s in sensors)
    n_good = sum(int((s.data["flag"].isin(tuple(flags)) & np.isfinite(s.data["sm"])).sum()) for s in sensors)
    starts = [s.data.index.min() for s in sensors if len(s.data)]
    ends = [s.data.index.max() for s in sensors if len(s.data)]
    depths = sorted({(s.depth_from, s.depth_to) for s in sensors})
    return {
        "network": network,
        "stations": len({s.station for s in sensors}),
        "sensors": len(sensors),
        "kept": len(kept),
        "depths_m": ", ".join(f"{a:g}-{b:g}" for a, b in depths[:4]) + (" ..." if len(depths) > 4 else ""),
        "first_day": f"{min(starts):%Y-%m-%d}" if starts else "-",
        "last_day": f"{max(ends):%Y-%m-%d}" if ends else "-",
        "hourly_values": n_values,
        "flag_ok_pct": round(100 * n_good / n_values, 1) if n_values else float("nan"),
    }


def summarize(
    source: str | Path, depth: tuple[float, float] = (0.0, 0.10), flags: Iterable[str] = GOOD_FLAGS
) -> IsmnSummary:
    """Read an ISMN download (every variable) and summarise its soil-moisture sensors per network; a
    download without one readable soil-moisture sensor is an error naming the source."""
    coll: IsmnCollection = read_ismn(source, variable=None)
    variables: dict[str, int] = {}
    for s in coll.sensors:
        variables[s.variable] = variables.get(s.variable, 0) + 1
    sm = [s for s in coll.sensors if s.variable == "sm"]
    if not sm:
        found = ", ".join(sorted(variables)) or "no readable .stm file"
        raise InputError(source, f"no readable soil-moisture (sm) sensor in this ISMN download (found: {found})", "sm")
    flags = tuple(flags)
    rows = [
        _network_row(net, [s for s in sm if s.network == net], depth, flags) for net in sorted({s.network for s in sm})
    ]
    table = pd.DataFrame(rows)
    dated = table[table["first_day"] != "-"]
    period = (dated["first_day"].min(), dated["last_day"].max()) if len(dated) else ("-", "-")
    return IsmnSummary(table, variables, period, coll.problems)
