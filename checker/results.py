"""The one results model: what a run of a lab's checks found, as data (JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class CheckResult:
    id: str
    title: str
    points: int
    passed: bool
    message: str
    hint: str
    hints: list[str] = field(default_factory=list)
    docs: str = ""
    step: str | None = None
    skipped: bool = False   # not graded here (registry.skipped): out of the score and the total

    @property
    def earned(self) -> int:
        return self.points if self.passed else 0

    @property
    def mark(self) -> str:
        return "PASS" if self.passed else "SKIP" if self.skipped else "FAIL"


@dataclass
class LabResult:
    lab: str
    title: str
    endpoint: str
    account: str | None
    results: list[CheckResult] = field(default_factory=list)
    error: str | None = None  # set when the checks could not run at all

    @property
    def score(self) -> int:
        return sum(r.earned for r in self.results)

    @property
    def total(self) -> int:
        return sum(r.points for r in self.results if not r.skipped)

    @property
    def all_passed(self) -> bool:
        return self.error is None and bool(self.results) and all(r.passed or r.skipped for r in self.results)

    @property
    def first_failure(self) -> CheckResult | None:
        return next((r for r in self.results if not r.passed and not r.skipped), None)

    def result(self, check_id: str) -> CheckResult:
        for r in self.results:
            if r.id == check_id:
                return r
        raise KeyError(f"{self.lab} has no check {check_id!r}")

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(score=self.score, total=self.total, all_passed=self.all_passed)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "LabResult":
        results = [CheckResult(**r) for r in data.get("results", [])]
        return cls(lab=data["lab"], title=data.get("title", ""), endpoint=data.get("endpoint", ""),
                   account=data.get("account"), results=results, error=data.get("error"))
