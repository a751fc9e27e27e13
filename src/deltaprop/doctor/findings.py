"""What the doctor says: findings (one named problem each, with its numbers and its remedy) and
the diagnosis that holds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("info", "warning", "error")  # in rising order: an error is the worst


@dataclass(frozen=True)
class Finding:
    """One thing the doctor saw in a run.

    Attributes
    ----------
    code : str
        What it is, by name: ``dead_units``, ``saturated_units``, ``vanishing_gradients``,
        ``exploding_gradients``, ``symmetric_units``, ``lr_too_high``, ``lr_too_low``,
        ``plateau``, ``overfitting`` or ``unscaled_inputs``.
    severity : {"info", "warning", "error"}
        ``info``: worth knowing, nothing to fix; ``warning``: training suffers; ``error``: the
        run cannot work as it is.
    layer : int or None
        Index of the dense layer it concerns (0 is the first, layer l = i + 1 of the notes), or
        None when it concerns the whole run.
    message : str
        One sentence for people.
    evidence : dict
        The numbers it rests on (plain floats, ints, lists: JSON-ready).
    advice : str
        What to change, concretely.
    """

    code: str
    severity: str
    layer: int | None
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    advice: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    @property
    def rank(self) -> int:
        """0 info, 1 warning, 2 error."""
        return SEVERITIES.index(self.severity)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "layer": self.layer,
                "message": self.message, "evidence": self.evidence, "advice": self.advice}

    def headline(self) -> str:
        """``warning dead_units (layer 1): ...``: the code, where, and the sentence."""
        where = "" if self.layer is None else f" (layer {self.layer})"
        return f"{self.severity} {self.code}{where}: {self.message}"

    def __str__(self) -> str:
        return f"{self.headline()}\n    advice: {self.advice}"


@dataclass
class Diagnosis:
    """The findings on one network and its data, worst first.

    Attributes
    ----------
    findings : list of Finding
        Sorted by severity (errors first), then by layer.
    checked : list of str
        The codes whose detectors ran (a detector without what it needs, e.g. overfitting
        without validation losses in the history, is left out).
    """

    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.findings = sorted(self.findings, key=lambda f: (-f.rank, -1 if f.layer is None
                                                             else f.layer, f.code))

    @property
    def ok(self) -> bool:
        """True when no finding is a warning or an error (info findings may remain)."""
        return not self.problems

    @property
    def problems(self) -> list[Finding]:
        """The warnings and errors."""
        return [f for f in self.findings if f.rank > 0]

    @property
    def codes(self) -> list[str]:
        """The codes found, in order (a code found on several layers once)."""
        return list(dict.fromkeys(f.code for f in self.findings))

    def find(self, code: str) -> list[Finding]:
        """The findings of one code (one per layer for the per-layer codes)."""
        return [f for f in self.findings if f.code == code]

    def summary(self) -> str:
        """One line: ``doctor: 2 problems: lr_too_high, dead_units (layer 0)``, or that it is
        clean."""
        problems = self.problems
        if not problems:
            return "doctor: no problems found"
        names = ", ".join(f.code if f.layer is None else f"{f.code} (layer {f.layer})"
                          for f in problems)
        count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        return f"doctor: {count}: {names}"

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "findings": [f.to_dict() for f in self.findings],
                "checked": list(self.checked)}

    def __str__(self) -> str:
        if not self.findings:
            return f"no problems found (checked: {', '.join(self.checked)})"
        return "\n".join(str(f) for f in self.findings)

    def __repr__(self) -> str:
        inner = "".join(f"\n  {f.headline()}" for f in self.findings)
        return f"Diagnosis(ok={self.ok}, findings={len(self.findings)}{inner})"
