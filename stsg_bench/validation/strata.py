"""Station strata from ISMN metadata: land cover, climate class and USDA soil texture class.

The ISMN ships each station's static variables (``*_static_variables.csv``: ESA CCI land cover, the
Koeppen-Geiger climate class, HWSD clay / sand / silt fractions); stations sharing a value form a group of
the results cube (``land_cover:...``, ``climate:...``, ``soil:...``), scored like a network."""

from __future__ import annotations

from collections.abc import Mapping


def usda_texture(clay: float | None, sand: float | None, silt: float | None = None) -> str | None:
    """The USDA soil texture class of a sample with ``clay`` and ``sand`` (and ``silt``) in % weight
    (the 12 classes of the texture triangle; None when the fractions are missing or do not add up to
    about 100 %)."""
    if clay is None or sand is None:
        return None
    silt = 100.0 - clay - sand if silt is None else silt
    total = clay + sand + silt
    if not 95.0 <= total <= 105.0 or min(clay, sand, silt) < 0:
        return None
    clay, sand, silt = (100.0 * v / total for v in (clay, sand, silt))
    rules = (  # the triangle's class boundaries (USDA Soil Survey Manual), first match wins
        ("silty clay", clay >= 40 and silt >= 40),
        ("clay", clay >= 40 and sand <= 45),
        ("sandy clay", clay >= 35 and sand > 45),
        ("silty clay loam", clay >= 27 and sand <= 20),
        ("clay loam", clay >= 27 and sand <= 45),
        ("sandy clay loam", clay >= 20 and silt < 28 and sand > 45),
        ("silt", silt >= 80 and clay < 12),
        ("silt loam", silt >= 50),
        ("loam", 7 <= clay < 27 and 28 <= silt < 50 and sand <= 52),
        ("sand", silt + 1.5 * clay < 15),
        ("loamy sand", silt + 2 * clay < 30),
    )
    return next((name for name, hit in rules if hit), "sandy loam")


def station_strata(metadata: Mapping) -> dict[str, str]:
    """{'land_cover' | 'climate' | 'soil': label} from a station's static variables (only those known)."""
    out: dict[str, str] = {}
    if metadata.get("land_cover"):
        out["land_cover"] = str(metadata["land_cover"])
    if metadata.get("climate_class"):
        out["climate"] = str(metadata["climate_class"])
    texture = usda_texture(metadata.get("clay_fraction"), metadata.get("sand_fraction"), metadata.get("silt_fraction"))
    if texture:
        out["soil"] = texture
    return out
