"""A study's narrative: the words of a results root that its run files cannot say (what the study
set out to do, the seed's own write-up quoted, how to re-run it), kept in `<root>/NARRATIVE.md`.

`nas report` reads it when it is there and then writes the study's report (this project's MNIST
study: its budgets, its hand-made models, its steps); without it, the report of what the root holds.
The file is Markdown cut into sections by marker lines `<!-- section: NAME -->`; what stands before
the first marker is the file's own preface. A section's text may name values the report fills in,
`{threshold:.2f}` for example (nas/reporting/steps.py says which), so that no number is typed twice.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from nas.errors import ConfigError

FILE = "NARRATIVE.md"
MARKER = re.compile(r"^<!-- section: (.+?) -->$", re.M)
SEED = "seed "  # sections "seed exp1" ...: a hand-made experiment of the seed, its target quoted


@dataclass(frozen=True)
class Narrative:
    path: Path
    sections: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path) -> "Narrative | None":
        path = Path(root) / FILE
        if not path.exists():
            return None
        parts = MARKER.split(path.read_text())
        return cls(path, {name.strip(): text.strip("\n") for name, text in zip(parts[1::2], parts[2::2])})

    def text(self, name: str, **values) -> str:
        """Section `name`, its `{value}` fields filled in; a missing section is one line naming the file."""
        if name not in self.sections:
            raise ConfigError(f"{self.path} has no section `{name}` (a line `<!-- section: {name} -->`)")
        try:
            return self.sections[name].format(**values)
        except (KeyError, IndexError, ValueError) as e:
            raise ConfigError(f"{self.path}, section `{name}`: cannot fill in {e} "
                              f"(the values it may name: {', '.join(sorted(values)) or 'none'})") from None

    def lines(self, name: str, **values) -> list[str]:
        return self.text(name, **values).split("\n")

    @property
    def seeds(self) -> list[str]:
        """The hand-made experiments the study quotes, in the file's order."""
        return [n.removeprefix(SEED) for n in self.sections if n.startswith(SEED)]
