"""The arithmetic of a grant, written once: total costs and the funding-rate cap.

Pure functions on integer cents, used by the model, the form, the eligibility rules and the
funding decision alike, so none of them can compute it differently.
"""

from __future__ import annotations

PERSONNEL, TOTAL = "personnel", "total"


def total_costs(personnel_costs, other_costs):
    """Total eligible costs. Works on ints and on SQL column expressions alike."""
    return personnel_costs + other_costs


def rate_basis_cents(rate_basis: str, personnel_costs: int, other_costs: int) -> int:
    """What the funding rate applies to: personnel costs or the total, as the round says."""
    if rate_basis == PERSONNEL:
        return personnel_costs
    return total_costs(personnel_costs, other_costs)


def grant_cap_cents(
    rate_percent: int, rate_basis: str, personnel_costs: int, other_costs: int
) -> int:
    """The most the funding rate allows: rate × basis, floored to whole cents.

    ``grant <= cap`` is the same test as ``grant * 100 <= rate * basis`` in integers.
    """
    return rate_percent * rate_basis_cents(rate_basis, personnel_costs, other_costs) // 100
