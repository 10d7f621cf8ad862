"""How units are named as youth-union organisations."""

from __future__ import annotations

from domain.vocabulary import N_

__all__ = ["UNIT_KINDS", "union_name"]

# The kinds of unit in the unit tree (data/lang-son-units-2025.csv, and those added with
# /units), as people name them.
UNIT_KINDS = {
    "province": N_("the province"),
    "youth_union": N_("the provincial Youth Union"),
    "association": N_("associations"),
    "department": N_("departments and agencies"),
    "front": N_("the Fatherland Front"),
    "commune": N_("communes"),
    "ward": N_("wards"),
    "branch": N_("youth union branches"),
    "school": N_("schools"),
    "enterprise": N_("enterprises"),
    "other": N_("other units"),
}

# Unit kinds named by their administrative name: the commune's youth union is "Đoàn xã …".
ADMINISTRATIVE = {"commune", "ward"}


def union_name(name: str, kind: str) -> str:
    """The youth-union organisation of a unit, as secretaries write it: "Xã Na Sầm" →
    "Đoàn xã Na Sầm", "Phường Đông Kinh" → "Đoàn phường Đông Kinh"; a branch or a body that
    is already a union organisation keeps its name ("Chi đoàn thôn Bản Chu", "Tỉnh Đoàn Lạng
    Sơn"); the province's is its Tỉnh Đoàn ("Tỉnh Lạng Sơn" → "Tỉnh Đoàn Lạng Sơn"); any other
    unit is "Đoàn <name>"."""
    lowered = name.casefold()
    if lowered.startswith(("đoàn", "chi đoàn", "tỉnh đoàn", "liên chi đoàn")):
        return name
    if kind == "province" and lowered.startswith("tỉnh "):
        return f"Tỉnh Đoàn {name[len('tỉnh ') :]}"
    if kind in ADMINISTRATIVE:
        return f"Đoàn {name[:1].lower()}{name[1:]}"
    return f"Đoàn {name}"
