"""A what-if's files: summary.json, households.csv (ID numbers masked unless asked, ADR 83),
regions.csv (each county's fund flows, ADR 82) and a chart that stands alone (ADR 84)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from adapters.whatif.exact import HouseholdTotals, Scope, Side
from adapters.whatif.flows import FLOWS
from domain.identity import mask_number, number_of
from domain.money import Money


def _yuan(fen: int) -> str:
    return str(Money(fen))


def household_rows(base: Side, reform: Side, show_ids: bool = False
                   ) -> Iterator[dict[str, Any]]:
    """One row per household: baseline, reform and delta; the head's ID number masked
    (341225********0117) unless `show_ids`."""
    for hid, b in sorted(base.households.items(),
                         key=lambda kv: (kv[1].region, kv[1].head)):
        r = reform.households.get(hid) or HouseholdTotals(b.head, b.year, b.region)
        number = number_of(b.head)
        yield {
            "head": number if show_ids else mask_number(number), "year": b.year,
            "region": b.region, "members": b.members, "covered_baseline": b.covered,
            "covered_reform": r.covered, "cap_baseline": _yuan(b.cap),
            "cap_reform": _yuan(r.cap), "baseline_reimbursed": _yuan(b.reimbursed),
            "reform_reimbursed": _yuan(r.reimbursed),
            "delta": _yuan(r.reimbursed - b.reimbursed),
            "at_cap_baseline": b.at_cap, "at_cap_reform": r.at_cap,
        }


REGION_COLUMNS = ["region", "name", *(f"{f}_{side}" for f in (*FLOWS, "covered", "households")
                                      for side in ("baseline", "reform", "delta"))]


def region_rows(summary: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """One row per county of the summary's `by_region`: each flow and count, baseline,
    reform and delta."""
    for r in summary.get("by_region", []):
        row = {"region": r["region"], "name": r["name"]}
        for f in (*FLOWS, "covered", "households"):
            for side in ("baseline", "reform", "delta"):
                row[f"{f}_{side}"] = r[side][f]
        yield row


def write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def write_outputs(out_dir: Path, summary: dict[str, Any], scope: Scope, base: Side,
                  reform: Side, show_ids: bool = False) -> list[Path]:
    """summary.json, households.csv, regions.csv and chart.png in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "summary.json", out_dir / "households.csv", out_dir / "regions.csv",
               out_dir / "chart.png"]
    written[0].write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n",
                          encoding="utf-8")
    rows = list(household_rows(base, reform, show_ids))
    write_csv(written[1], list(rows[0]) if rows else [
        "head", "year", "region", "baseline_reimbursed", "reform_reimbursed", "delta"], rows)
    write_csv(written[2], REGION_COLUMNS, list(region_rows(summary)))
    chart(written[3], summary, scope, base, reform)
    return written


# --- the chart ---------------------------------------------------------------------------------


def thousands(value: float, decimals: int = 0) -> str:
    """12,345 / 12,345.67: a number with thousands separators."""
    return f"{value:,.{decimals}f}"


def percent_change(old: float, new: float) -> str:
    if old == 0:
        return "new" if new else "±0%"
    return f"{(new - old) / abs(old):+.1%}"


def _members_counting(side: Side) -> Counter:
    return Counter(min(h.covered, 5) for h in side.households.values())


def _each(side: Side) -> str:
    """The per-person cap(s) the households' caps are multiples of."""
    each = sorted({h.cap // h.covered for h in side.households.values() if h.covered})
    return " / ".join(thousands(fen / 100, 2) for fen in each[:3]) or "none"


def _header(summary: Mapping[str, Any], scope: Scope) -> list[str]:
    """What the chart is of: scope and region name, what changed, the behaviour."""
    where = summary.get("scope_name") or str(scope)
    lines = [f"What-if, {where}: {thousands(summary.get('households', 0))} households, "
             f"{thousands(summary.get('claims', 0))} claims"]
    changed = "; ".join(f"{c['field']} {c['old'] or '(unset)'} → {c['new']}"
                        for c in summary.get("changes", []))
    if changed:
        lines.append(f"Changed: {changed}")
    behaviour = summary.get("behaviour")
    if behaviour == "pay-new-due":
        text = "payers who were covered pay the new due on the days they paid"
        if summary.get("take_up_elasticity") is not None:
            text += (f"; take-up elasticity {summary['take_up_elasticity']} (seed "
                     f"{summary['seed']}): {thousands(summary.get('dropped_out', 0))} "
                     f"payers drop out")
        lines.append(f"Behaviour: {text}")
    elif behaviour == "recorded":
        lines.append("Behaviour: the recorded payments, met against the reform's dues")
    return lines


def chart(path: Path, summary: dict[str, Any], scope: Scope, base_side: Side,
          reform: Side) -> None:
    """One figure that explains itself: what changed and the behaviour on top; household
    reimbursement, the households at their cap (with the cap's multiples), every fund flow
    with its change, and the change per county by name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    axis_thousands = FuncFormatter(lambda v, _pos: thousands(v))
    fig, axes = plt.subplots(2, 2, figsize=(15, 10.5))
    (hist, caps), (flows, regions) = axes

    base = [h.reimbursed / 100 for h in base_side.households.values()]
    ref = [reform.households[k].reimbursed / 100 if k in reform.households else 0.0
           for k in base_side.households]
    top = max(base + ref + [1.0])
    bins = [top * i / 30 for i in range(31)]
    was, now = float(summary["baseline_reimbursed"]), float(summary["reform_reimbursed"])
    hist.hist(base, bins=bins, alpha=0.55, label=f"baseline (total {thousands(was, 2)} yuan)")
    hist.hist(ref, bins=bins, alpha=0.55, label=f"reform (total {thousands(now, 2)} yuan, "
              f"{percent_change(was, now)})")
    hist.set_xlabel("reimbursed per household in the year (yuan)")
    hist.set_ylabel("households")
    hist.xaxis.set_major_formatter(axis_thousands)
    hist.yaxis.set_major_formatter(axis_thousands)
    hist.set_title("Household outpatient reimbursement")
    hist.legend()

    n = summary.get("households") or 0
    counts = [summary.get("households_at_cap_baseline", 0),
              summary.get("households_at_cap_reform", 0)]
    bars = caps.bar(["baseline", "reform"], [100 * k / n if n else 0 for k in counts],
                    color=["tab:blue", "tab:orange"])
    for bar, k in zip(bars, counts, strict=True):
        caps.annotate(f"{k / n if n else 0:.1%}\n{thousands(k)} of {thousands(n)}",
                      (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                      ha="center", va="bottom")
    caps.set_ylabel("% of households")
    caps.set_title("Households at their cap")
    multiples = _members_counting(reform)
    caps.set_xlabel(f"a household's cap = the per-person cap ({_each(base_side)} → "
                    f"{_each(reform)} yuan) × its covered members\n"
                    "households by covered members (reform): " + ", ".join(
                        f"{'5+' if m == 5 else m}×: {thousands(k)}"
                        for m, k in sorted(multiples.items())), fontsize=9)

    _flows_panel(flows, summary, axis_thousands)
    _regions_panel(regions, summary, axis_thousands)
    fig.suptitle("\n".join(_header(summary, scope)), fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _flows_panel(ax: Any, summary: Mapping[str, Any], fmt: Any) -> None:
    ff = summary.get("fund_flows")
    if not ff:
        ax.set_axis_off()
        return
    labels = ["individual\ncontributions", "subsidy cost\n(assistance)",
              "fiscal subsidy\ndue", "outpatient\nreimbursement", "net of the\npool"]
    sides = [("baseline", "tab:blue"), ("reform", "tab:orange")]
    if ff["mechanical"] != ff["reform"]:
        sides.insert(1, ("mechanical", "tab:green"))
    width = 0.8 / len(sides)
    for i, (side, colour) in enumerate(sides):
        values = [float(ff[side][f]) for f in FLOWS]
        xs = [k + (i - (len(sides) - 1) / 2) * width for k in range(len(FLOWS))]
        ax.bar(xs, values, width, label=side if side != "mechanical" else
               "reform without drop-outs", color=colour)
    for k, f in enumerate(FLOWS):
        old, new = float(ff["baseline"][f]), float(ff["reform"][f])
        top = max(float(ff[side][f]) for side, _ in sides)
        ax.annotate(f"{percent_change(old, new)}\n{float(ff['total_effect'][f]):+,.0f}",
                    (k, max(top, 0)), ha="center", va="bottom", fontsize=8)
    ax.margins(y=0.12)
    ax.set_xticks(range(len(FLOWS)), labels, fontsize=8)
    ax.yaxis.set_major_formatter(fmt)
    ax.set_ylabel("yuan")
    ax.set_title(f"Fund flows (covered persons {thousands(ff['baseline']['covered'])} → "
                 f"{thousands(ff['reform']['covered'])})")
    ax.legend(fontsize=8)


def _regions_panel(ax: Any, summary: Mapping[str, Any], fmt: Any) -> None:
    rows = summary.get("by_region") or []
    if not rows:
        ax.set_axis_off()
        return
    rows = rows[:15]
    names = [f"{r['name'] or '?'} {r['region']}\n{thousands(r['baseline']['households'])} "
             f"households\ncovered {thousands(r['baseline']['covered'])} → "
             f"{thousands(r['reform']['covered'])}" for r in rows]
    reimbursed = [float(r["delta"]["reimbursed"]) for r in rows]
    net = [float(r["delta"]["net"]) for r in rows]
    ys = range(len(rows))
    ax.barh([y + 0.2 for y in ys], reimbursed, 0.4, label="change of reimbursement",
            color="tab:red")
    ax.barh([y - 0.2 for y in ys], net, 0.4, label="change of the pool's net",
            color="tab:purple")
    ax.set_yticks(list(ys), names, fontsize=8)
    ax.xaxis.set_major_formatter(fmt)
    ax.axvline(0, color="black", linewidth=0.6)
    ax.set_xlabel("yuan, reform − baseline")
    ax.set_title("Per county")
    ax.legend(fontsize=8)
