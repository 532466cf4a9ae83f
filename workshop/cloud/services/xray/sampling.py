"""X-Ray sampling rules and the targets X-Ray hands the SDKs: each rule's
reservoir (ReservoirSize traces a second) shared among the clients that report
for it, its fixed rate beyond, a quota TTL and a 10-second interval; the
statistics the clients report, summed per rule. The Default rule always exists."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workshop.cloud.services.xray.groups import XRayError, invalid

MAX_RULES = 25                   # AWS: 25 sampling rules per account and region, Default aside
INTERVAL = 10                    # seconds between an SDK's GetSamplingTargets calls
DEFAULT = "Default"
_MATCHERS = {"ResourceARN": 500, "ServiceName": 64, "ServiceType": 64, "Host": 64, "HTTPMethod": 10,
             "URLPath": 128}


@dataclass
class SamplingRule:
    name: str
    arn: str
    priority: int
    fixed_rate: float
    reservoir_size: int
    matchers: dict[str, str]           # ResourceARN, ServiceName, ServiceType, Host, HTTPMethod, URLPath
    attributes: dict[str, str]
    created: float
    modified: float
    version: int = 1
    clients: dict[str, float] = field(default_factory=dict)    # ClientID -> when it last reported
    statistics: dict[str, float] = field(default_factory=lambda: {"RequestCount": 0, "SampledCount": 0,
                                                                    "BorrowCount": 0, "Timestamp": 0.0})

    def describe(self) -> dict[str, Any]:
        rule = {"RuleName": self.name, "RuleARN": self.arn, "Priority": self.priority,
                "FixedRate": self.fixed_rate, "ReservoirSize": self.reservoir_size, **self.matchers,
                "Version": self.version, "Attributes": dict(self.attributes)}
        return {"SamplingRule": rule, "CreatedAt": self.created, "ModifiedAt": self.modified}


def _number(value: Any, name: str, low: float, high: float | None, integer: bool) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and value != int(value)):
        raise invalid(f"{name} must be {'an integer' if integer else 'a number'}.")
    if value < low or (high is not None and value > high):
        raise invalid(f"{name} must be between {low} and {high}." if high is not None
                      else f"{name} must be at least {low}.")
    return int(value) if integer else float(value)


def _text(value: Any, name: str, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise invalid(f"{name} must be a string of 1 to {limit} characters.")
    return value


def _attributes(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 32
                                              and 0 < len(v) <= 32 for k, v in value.items()):
        raise invalid("Attributes must map keys of 1 to 32 characters to values of 1 to 32 characters.")
    return dict(value)


class SamplingOperations:
    """Sampling rules of one account and region (mixed into the settings backend)."""

    account_id: str
    region_name: str
    rules: dict[str, SamplingRule]

    def now(self) -> float: ...                    # the settings backend's clock

    def tag(self, arn: str, tags: Any) -> None: ...

    def untag_all(self, arn: str) -> None: ...

    def _rule_arn(self, name: str) -> str:
        return f"arn:aws:xray:{self.region_name}:{self.account_id}:sampling-rule/{name}"

    def _ensure_default(self) -> None:
        if DEFAULT not in self.rules:
            now = self.now()
            self.rules[DEFAULT] = SamplingRule(DEFAULT, self._rule_arn(DEFAULT), 10000, 0.05, 1,
                                               {k: "*" for k in _MATCHERS}, {}, now, now)

    def create_sampling_rule(self, rule: Any, tags: Any = None) -> SamplingRule:
        self._ensure_default()
        if not isinstance(rule, dict):
            raise invalid("SamplingRule is required.")
        name = rule.get("RuleName")
        if not isinstance(name, str) or not 1 <= len(name) <= 32:
            raise invalid("RuleName must be a string of 1 to 32 characters.")
        if name in self.rules:
            raise invalid(f"A sampling rule named {name} already exists.")
        if len(self.rules) - 1 >= MAX_RULES:
            raise XRayError("RuleLimitExceededException",
                            f"You have reached the maximum number of sampling rules ({MAX_RULES}).")
        if rule.get("Version", 1) != 1:
            raise invalid("Version must be 1.")
        matchers = {key: _text(rule.get(key), key, limit) for key, limit in _MATCHERS.items()}
        if matchers["ResourceARN"] != "*":
            raise invalid("ResourceARN must be *: X-Ray does not match rules on resources yet.")
        now = self.now()
        created = SamplingRule(
            name, self._rule_arn(name), _number(rule.get("Priority"), "Priority", 1, 9999, True),
            _number(rule.get("FixedRate"), "FixedRate", 0, 1, False),
            _number(rule.get("ReservoirSize"), "ReservoirSize", 0, None, True),
            matchers, _attributes(rule.get("Attributes")), now, now)
        if tags is not None:
            self.tag(created.arn, tags)
        self.rules[name] = created
        return created

    def find_rule(self, name: Any = None, arn: Any = None) -> SamplingRule:
        self._ensure_default()
        if not name and not arn:
            raise invalid("RuleName or RuleARN is required.")
        for rule in self.rules.values():
            if (name and rule.name == name) or (arn and rule.arn == arn):
                return rule
        raise invalid(f"Sampling rule not found: {name or arn}")

    def update_sampling_rule(self, update: Any) -> SamplingRule:
        if not isinstance(update, dict):
            raise invalid("SamplingRuleUpdate is required.")
        rule = self.find_rule(update.get("RuleName"), update.get("RuleARN"))
        changes: dict[str, Any] = {}
        if update.get("Priority") is not None:
            changes["priority"] = _number(update["Priority"], "Priority", 1, 9999, True)
        if update.get("FixedRate") is not None:
            changes["fixed_rate"] = _number(update["FixedRate"], "FixedRate", 0, 1, False)
        if update.get("ReservoirSize") is not None:
            changes["reservoir_size"] = _number(update["ReservoirSize"], "ReservoirSize", 0, None, True)
        matchers = {key: _text(update[key], key, limit) for key, limit in _MATCHERS.items()
                    if update.get(key) is not None}
        if matchers.get("ResourceARN", "*") != "*":
            raise invalid("ResourceARN must be *: X-Ray does not match rules on resources yet.")
        attributes = _attributes(update["Attributes"]) if update.get("Attributes") is not None else None
        if rule.name == DEFAULT and (set(changes) - {"fixed_rate", "reservoir_size"} or matchers or attributes):
            raise invalid("Only FixedRate and ReservoirSize of the Default rule can be changed.")
        for attr, value in changes.items():        # all checked: now change
            setattr(rule, attr, value)
        rule.matchers.update(matchers)
        if attributes is not None:
            rule.attributes = attributes
        rule.modified = self.now()
        return rule

    def delete_sampling_rule(self, name: Any = None, arn: Any = None) -> SamplingRule:
        rule = self.find_rule(name, arn)
        if rule.name == DEFAULT:
            raise invalid("The Default sampling rule cannot be deleted.")
        del self.rules[rule.name]
        self.untag_all(rule.arn)
        return rule

    def list_rules(self) -> list[SamplingRule]:
        self._ensure_default()
        return sorted(self.rules.values(), key=lambda r: (r.priority, r.name))

    def sampling_targets(self, documents: Any) -> dict[str, Any]:
        """GetSamplingTargets: record each client's statistics, then each reported rule's
        target: its reservoir shared among the clients active in the last interval."""
        self._ensure_default()
        if not isinstance(documents, list):
            raise invalid("SamplingStatisticsDocuments is required.")
        if len(documents) > 25:
            raise invalid("SamplingStatisticsDocuments must hold at most 25 documents.")
        now = self.now()
        reported: dict[str, str] = {}     # rule -> the client asking (an SDK sends its own id)
        unprocessed = []
        for doc in documents:
            if not isinstance(doc, dict) or not isinstance(doc.get("RuleName"), str) \
                    or not isinstance(doc.get("ClientID"), str):
                unprocessed.append({"RuleName": str((doc or {}).get("RuleName", "")) if isinstance(doc, dict) else "",
                                    "ErrorCode": "400", "Message": "RuleName and ClientID are required."})
                continue
            rule = self.rules.get(doc["RuleName"])
            if rule is None:
                unprocessed.append({"RuleName": doc["RuleName"], "ErrorCode": "400",
                                    "Message": "Unknown sampling rule."})
                continue
            rule.clients[doc["ClientID"]] = now
            for key in ("RequestCount", "SampledCount", "BorrowCount"):
                value = doc.get(key, 0)
                if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
                    rule.statistics[key] += int(value)
            rule.statistics["Timestamp"] = now
            reported.setdefault(rule.name, doc["ClientID"])
        targets = []
        for name, client in reported.items():
            rule = self.rules[name]
            for gone in [c for c, seen in rule.clients.items() if now - seen > 3 * INTERVAL]:
                del rule.clients[gone]               # a client silent for 3 intervals has gone
            active = sorted(rule.clients)
            base, extra = divmod(rule.reservoir_size, len(active))
            quota = base + (1 if active.index(client) < extra else 0)
            targets.append({"RuleName": name, "FixedRate": rule.fixed_rate, "ReservoirQuota": quota,
                            "ReservoirQuotaTTL": now + INTERVAL, "Interval": INTERVAL})
        return {"targets": targets, "unprocessed": unprocessed,
                "last_modification": max(r.modified for r in self.rules.values())}

    def statistic_summaries(self) -> list[dict[str, Any]]:
        return [{"RuleName": rule.name, "Timestamp": rule.statistics["Timestamp"],
                 "RequestCount": int(rule.statistics["RequestCount"]),
                 "SampledCount": int(rule.statistics["SampledCount"]),
                 "BorrowCount": int(rule.statistics["BorrowCount"])}
                for rule in self.list_rules() if rule.statistics["Timestamp"]]
