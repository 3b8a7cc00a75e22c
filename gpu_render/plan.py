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
    n: int = 1                 # RANKED: rows kept per pixel
    order: str | None = None   # RANKED: 'max', 'min', 'first' or 'last'
    lookup: str | None = None  # RANKED: the column a where() reports


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
            for c in (g.column, g.cat, g.lookup):
                if c is not None:
                    seen[c] = None
        return list(seen)

    def value_columns(self) -> list[str]:
        cols = [c for g in self.groups for c in (g.column, g.lookup) if c is not None]
        return list(dict.fromkeys(cols))


def make_plan(viewport: Viewport, x: str, y: str, named: dict, categories: dict) -> AggPlan:
    """Build the plan for ``{name: reduction}``; ``categories`` maps cat columns to labels."""
    index = {}   # (family, column, cat) -> group index
    groups = []
    outputs = []
    for name, red in named.items():
        kind, col, cat = red.kind, red.value_column, red.cat_column
        family = "valued" if kind in _VALUED else kind
        ranking = red.ranking    # (n, order, lookup) of ranked reductions, else ()
        key = (family, col, cat, ranking)
        ncat = len(categories[cat]) if cat is not None else 1
        if ranking:
            if key not in index:
                index[key] = len(groups)
                groups.append(Group(kind, col, cat, ncat, *ranking))
            gi = index[key]
        elif key in index:
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
    return sum(P.plane_bytes(g.kind) * plan.slots(g) * g.n * parts for g in plan.groups)
