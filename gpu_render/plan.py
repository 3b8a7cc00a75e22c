"""An aggregation plan: which kernel passes to run for a set of reductions, deduplicated."""
from __future__ import annotations

from dataclasses import dataclass

from . import planes as P
from .axes import Viewport

_VALUED = (P.COUNT_VALID, P.SUM, P.VAR)  # each kind's planes include the previous kind's


@dataclass(frozen=True)
class Group:
    """One kernel pass: a kind over a value column, optionally split by a category column."""

    kind: int
    column: str | None
    cat: str | None
    ncat: int = 1


@dataclass
class AggPlan:
    viewport: Viewport
    x: str
    y: str
    groups: list            # [Group]
    outputs: list           # [(name, Reduction, group index)]
    categories: dict        # cat column -> list of category labels

    @property
    def pixels(self) -> int:
        return self.viewport.width * self.viewport.height

    def group_size(self, g: Group) -> int:
        return self.pixels * g.ncat

    def slots(self, g: Group) -> int:
        """Length of each plane of ``g``: every output cell plus one trash slot for dropped rows."""
        return self.group_size(g) + 1

    def columns(self) -> list[str]:
        """Every column the plan reads, in a stable order."""
        seen = {self.x: None, self.y: None}
        for g in self.groups:
            for c in (g.column, g.cat):
                if c is not None:
                    seen[c] = None
        return list(seen)

    def value_columns(self) -> list[str]:
        return list(dict.fromkeys(g.column for g in self.groups if g.column is not None))


def make_plan(viewport: Viewport, x: str, y: str, named: dict, categories: dict) -> AggPlan:
    """Build the plan for ``{name: reduction}``; ``categories`` maps cat columns to labels."""
    index = {}   # (family, column, cat) -> group index
    groups = []
    outputs = []
    for name, red in named.items():
        kind, col, cat = red.kind, red.value_column, red.cat_column
        family = "valued" if kind in _VALUED else kind
        key = (family, col, cat)
        ncat = len(categories[cat]) if cat is not None else 1
        if key in index:
            gi = index[key]
            if kind > groups[gi].kind and family == "valued":
                groups[gi] = Group(kind, col, cat, ncat)
        else:
            index[key] = gi = len(groups)
            groups.append(Group(kind, col, cat, ncat))
        outputs.append((name, red, gi))
    return AggPlan(viewport, x, y, groups, outputs, categories)


def required_bytes(plan: AggPlan, parts: int) -> int:
    """Memory the partial grids of ``plan`` need with ``parts`` independent parts."""
    return sum(P.plane_bytes(g.kind) * plan.slots(g) * parts for g in plan.groups)
