"""Eligibility: the pure rule engine (``engine``, ``rules``) and its postcode data. Its
messages are turned into text by ``app.cases.findings`` (gettext catalogs, Babel).

See docs/eligibility.md. Importing the package registers every rule function.
"""

from app.eligibility import rules  # noqa: F401  (registers the rule functions)
from app.eligibility.engine import (
    ELIGIBLE,
    ELIGIBLE_WITH_REMARKS,
    ENGINE_VERSION,
    FAIL,
    NOT_ELIGIBLE,
    PASS,
    REMARK,
    RULE_FUNCTIONS,
    SEVERITIES,
    ApplicationFacts,
    CheckContext,
    CostYear,
    Message,
    Report,
    RoundRules,
    RuleResult,
    RuleSpec,
    cost_plan_from,
    evaluate,
    overall_outcome,
    rule_specs,
    unknown_rules,
)
from app.eligibility.rules import (
    add_months,
    normalise_org_name,
    normalise_title,
    project_months,
)

__all__ = [
    "ELIGIBLE",
    "ELIGIBLE_WITH_REMARKS",
    "ENGINE_VERSION",
    "FAIL",
    "NOT_ELIGIBLE",
    "PASS",
    "REMARK",
    "RULE_FUNCTIONS",
    "SEVERITIES",
    "ApplicationFacts",
    "CheckContext",
    "CostYear",
    "Message",
    "Report",
    "RoundRules",
    "RuleResult",
    "RuleSpec",
    "add_months",
    "cost_plan_from",
    "evaluate",
    "normalise_org_name",
    "normalise_title",
    "overall_outcome",
    "project_months",
    "rule_specs",
    "unknown_rules",
]
