"""The fund's totals and balance for a region and benefit year (issue 16, ADR 74).

One base for contributions everywhere: gross, everything paid in before any refund. Refunds
are a line of their own and the balance takes them out once:

    balance = contributions + subsidies + fiscal share − reimbursements − refunds

`report fund`, the demo's money table and the what-if's `contributions_gross_*` and
`refunds_*` all use this base; every caller adds its lines up here.
"""

from __future__ import annotations

from collections.abc import Iterable

from attrs import frozen

from domain.money import ZERO, Money

#: The fund ledger's items, in the order the totals are shown, and whether each comes in (+1)
#: or goes out (−1) of the balance.
FUND_ITEMS: tuple[tuple[str, int], ...] = (
    ("contribution", 1), ("subsidy", 1), ("fiscal_due", 1), ("reimbursement", -1),
    ("refund", -1))
_SIGN = dict(FUND_ITEMS)


@frozen
class FundTotals:
    """What came in and went out of one fund (a region-year, or several added up)."""

    contributions: Money = ZERO  # gross: before refunds
    subsidies: Money = ZERO
    fiscal_share: Money = ZERO
    reimbursements: Money = ZERO  # settled less reversed
    refunds: Money = ZERO

    @property
    def balance(self) -> Money:
        return fund_balance(self.contributions, self.subsidies, self.fiscal_share,
                            self.reimbursements, self.refunds)

    def by_item(self) -> dict[str, Money]:
        """The totals keyed by the fund ledger's item names."""
        return {"contribution": self.contributions, "subsidy": self.subsidies,
                "fiscal_due": self.fiscal_share, "reimbursement": self.reimbursements,
                "refund": self.refunds}


def fund_balance(contributions: Money, subsidies: Money, fiscal_share: Money,
                 reimbursements: Money, refunds: Money) -> Money:
    """Contributions (gross) + subsidies + fiscal share − reimbursements − refunds."""
    return contributions + subsidies + fiscal_share - reimbursements - refunds


def fund_totals(lines: Iterable[tuple[str, Money]]) -> FundTotals:
    """The totals of fund ledger lines `(item, amount)`; an item the ledger does not know is
    refused (ValueError) rather than left out of the balance."""
    sums = dict.fromkeys(_SIGN, ZERO)
    for item, amount in lines:
        if item not in _SIGN:
            raise ValueError(f"unknown fund item {item!r}")
        sums[item] = sums[item] + amount
    return FundTotals(contributions=sums["contribution"], subsidies=sums["subsidy"],
                      fiscal_share=sums["fiscal_due"], reimbursements=sums["reimbursement"],
                      refunds=sums["refund"])
