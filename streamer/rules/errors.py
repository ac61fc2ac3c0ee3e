"""The one exception the rule compiler raises."""

from __future__ import annotations

from collections.abc import Sequence

Loc = tuple[str | int, ...]


def render_path(base: str, loc: Loc) -> str:
    """Render ``base`` plus ``loc`` the way a YAML path reads: ``a.b[2].c``."""
    out = base
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


class RuleError(ValueError):
    """A rule set is malformed; raised at compile time, never while evaluating.

    ``path`` is where the problem is (``pipeline[0].filter.rule_set.rules[1].op``) and
    ``problem`` says what is wrong and what to do. ``loc`` is the same place relative to the
    ``path`` argument given to ``compile_rule_set``, as a tuple, so a pydantic validator can
    report it with a precise location.
    """

    path: str
    problem: str
    loc: Loc
    others: tuple[RuleError, ...]

    def __init__(
        self, path: str, problem: str, *, loc: Loc = (), others: Sequence[RuleError] = ()
    ) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
        self.loc = loc
        self.others = tuple(others)

    @property
    def all(self) -> tuple[RuleError, ...]:
        """This problem and every other one found in the same pass (one fix-up round)."""
        return (self, *self.others)

    @classmethod
    def combine(cls, errors: Sequence[RuleError]) -> RuleError:
        """One error carrying ``errors`` (each flattened), the first one as its own text."""
        flat = [one for err in errors for one in err.all]
        first = flat[0]
        return cls(first.path, first.problem, loc=first.loc, others=flat[1:])

    def __str__(self) -> str:
        return "; ".join([f"{self.path}: {self.problem}", *(str(e) for e in self.others)])
