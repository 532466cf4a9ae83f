"""ECR lifecycle policies evaluated as ECR's user guide states the rules:

- rules are applied in ``rulePriority`` order (lowest first); a rule with
  ``tagStatus: any`` must have the highest priority number;
- a rule selects images by tag status (``tagged`` with ``tagPrefixList`` or
  ``tagPatternList``, all of whose entries an image's tags must match; ``untagged``;
  ``any``), then marks the selected images past ``imageCountMoreThan`` (newest
  kept, by push time) or pushed more than ``sinceImagePushed`` days ago;
- an image is expired by at most one rule, and an image a rule *selected* is
  never expired by a lower-priority rule (it still counts in that rule's count);
- older images expire before newer ones.

Ages are on the workshop clock: the time since ``imagePushedAt`` times the time
scale. Pure functions over images (digest, tags, push time): the sweeper and the
preview share them, so the preview lists exactly what the sweep expires.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass

DAY = 86400.0


class PolicyError(ValueError):
    """A policy ECR would refuse (InvalidParameterException)."""


@dataclass(frozen=True)
class Rule:
    priority: int
    tag_status: str
    prefixes: tuple[str, ...]
    patterns: tuple[str, ...]
    count_type: str
    count_number: int
    count_unit: str | None
    description: str = ""


@dataclass(frozen=True)
class Verdict:
    digest: str
    priority: int


def parse(text: str) -> list[Rule]:
    try:
        policy = json.loads(text)
        raw_rules = policy["rules"]
    except (ValueError, TypeError, KeyError):
        raise PolicyError("Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
                          "'Lifecycle policy validation failure: the policy is not JSON with \"rules\"'") from None
    if not isinstance(raw_rules, list) or not raw_rules:
        raise PolicyError(_invalid("a policy needs at least one rule"))
    rules = []
    for raw in raw_rules:
        try:
            selection, action = raw["selection"], raw["action"]
            rule = Rule(
                priority=int(raw["rulePriority"]),
                tag_status=str(selection["tagStatus"]),
                prefixes=tuple(selection.get("tagPrefixList") or ()),
                patterns=tuple(selection.get("tagPatternList") or ()),
                count_type=str(selection["countType"]),
                count_number=int(selection["countNumber"]),
                count_unit=selection.get("countUnit"),
                description=str(raw.get("description", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise PolicyError(_invalid(f"a rule lacks or mistypes {exc}")) from None
        if action.get("type") != "expire":
            raise PolicyError(_invalid("the only action is 'expire'"))
        _check_rule(rule)
        rules.append(rule)
    rules.sort(key=lambda r: r.priority)
    priorities = [r.priority for r in rules]
    if len(set(priorities)) != len(priorities):
        raise PolicyError(_invalid("rulePriority values must be unique"))
    anys = [r for r in rules if r.tag_status == "any"]
    if anys and anys[-1] is not rules[-1] or len(anys) > 1:
        raise PolicyError(_invalid("a rule with tagStatus 'any' must have the highest rulePriority"))
    if sum(r.tag_status == "untagged" for r in rules) > 1:
        raise PolicyError(_invalid("only one rule can select untagged images"))
    return rules


def _check_rule(rule: Rule) -> None:
    if rule.priority < 1:
        raise PolicyError(_invalid("rulePriority must be 1 or more"))
    if rule.tag_status not in ("tagged", "untagged", "any"):
        raise PolicyError(_invalid("tagStatus is tagged, untagged or any"))
    if rule.tag_status == "tagged" and not (rule.prefixes or rule.patterns):
        raise PolicyError(_invalid("a tagged rule needs tagPrefixList or tagPatternList"))
    if rule.prefixes and rule.patterns:
        raise PolicyError(_invalid("use tagPrefixList or tagPatternList, not both"))
    if rule.tag_status != "tagged" and (rule.prefixes or rule.patterns):
        raise PolicyError(_invalid("tag lists only go with tagStatus 'tagged'"))
    if any(p.count("*") > 4 for p in rule.patterns):
        raise PolicyError(_invalid("a tag pattern has at most 4 wildcards"))
    if rule.count_number < 1:
        raise PolicyError(_invalid("countNumber must be 1 or more"))
    if rule.count_type == "sinceImagePushed":
        if rule.count_unit != "days":
            raise PolicyError(_invalid("sinceImagePushed counts in 'days' (countUnit)"))
    elif rule.count_type == "imageCountMoreThan":
        if rule.count_unit is not None:
            raise PolicyError(_invalid("imageCountMoreThan takes no countUnit"))
    else:
        raise PolicyError(_invalid("countType is imageCountMoreThan or sinceImagePushed"))


def _invalid(why: str) -> str:
    return f"Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: " \
           f"'Lifecycle policy validation failure: {why}'"


def selects(rule: Rule, tags: list[str]) -> bool:
    if rule.tag_status == "any":
        return True
    if rule.tag_status == "untagged":
        return not tags
    if not tags:
        return False
    if rule.prefixes:
        return all(any(t.startswith(p) for t in tags) for p in rule.prefixes)
    return all(any(fnmatch.fnmatchcase(t, p) for t in tags) for p in rule.patterns)


def evaluate(rules: list[Rule], images: list, now: float, time_scale: float) -> list[Verdict]:
    """The images ``rules`` expire now: ``images`` have ``digest``, ``image_tags``,
    ``pushed_at`` (epoch seconds). Oldest first."""
    expired: dict[str, Verdict] = {}
    protected: set[str] = set()  # selected by a higher-priority rule
    by_age = sorted(images, key=lambda i: i.pushed_at, reverse=True)  # newest first
    for rule in rules:
        selected = [i for i in by_age if selects(rule, list(i.image_tags))]
        if rule.count_type == "imageCountMoreThan":
            candidates = selected[rule.count_number:]
        else:
            limit = rule.count_number * DAY
            candidates = [i for i in selected if (now - i.pushed_at) * time_scale > limit]
        for image in candidates:
            if image.digest not in expired and image.digest not in protected:
                expired[image.digest] = Verdict(image.digest, rule.priority)
        protected.update(i.digest for i in selected)
    pushed = {i.digest: i.pushed_at for i in images}
    return sorted(expired.values(), key=lambda v: pushed[v.digest])
