"""Several reforms of one scope side by side (ADR 85): one comparison (JSON, CSV, terminal)
and one chart, from each reform's what-if summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from adapters.whatif.flows import FLOWS
from adapters.whatif.outputs import percent_change, thousands, write_csv

#: The comparison's columns after `reform`: flows in yuan, then counts.
COLUMNS = ("contributions", "subsidy_cost", "fiscal_subsidy_due", "reimbursed", "net",
           "covered", "households_at_cap", "delta_reimbursed", "delta_net", "dropped_out",
           "joined", "claims_changed")


def _changes(summary: Mapping[str, Any]) -> str:
    return "; ".join(f"{c['field']} {c['old'] or '(unset)'} → {c['new']}"
                     for c in summary.get("changes", []))


def comparison(named: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """The reforms' summaries (name, summary), all of one scope and behaviour, as one
    comparison: a row for the baseline and one per reform, and each summary in full."""
    first = named[0][1]
    base = first["fund_flows"]["baseline"]
    rows = [{"reform": "baseline", "changes": "", **{f: base[f] for f in FLOWS},
             "covered": base["covered"],
             "households_at_cap": first["households_at_cap_baseline"],
             "delta_reimbursed": "0.00", "delta_net": "0.00", "dropped_out": 0,
             "joined": 0, "claims_changed": 0}]
    for name, s in named:
        flows = s["fund_flows"]
        rows.append({"reform": name, "changes": _changes(s),
                     **{f: flows["reform"][f] for f in FLOWS},
                     "covered": flows["reform"]["covered"],
                     "households_at_cap": s["households_at_cap_reform"],
                     "delta_reimbursed": flows["total_effect"]["reimbursed"],
                     "delta_net": flows["total_effect"]["net"],
                     "dropped_out": s["dropped_out"], "joined": s.get("joined", 0),
                     "claims_changed": s["claims_changed"]})
    return {"scope": first["scope"], "scope_name": first.get("scope_name"),
            "households": first["households"], "claims": first["claims"],
            "behaviour": first.get("behaviour"),
            "take_up_elasticity": first.get("take_up_elasticity"), "seed": first.get("seed"),
            "comparison": rows, "reforms": {name: s for name, s in named}}


def write_comparison(out_dir: Path, compared: Mapping[str, Any]) -> list[Path]:
    """comparison.json, comparison.csv and comparison.png in `out_dir`."""
    import json

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "comparison.json", out_dir / "comparison.csv",
             out_dir / "comparison.png"]
    paths[0].write_text(json.dumps(compared, ensure_ascii=False, indent=2) + "\n",
                        encoding="utf-8")
    write_csv(paths[1], ["reform", "changes", *COLUMNS], list(compared["comparison"]))
    comparison_chart(paths[2], compared)
    return paths


def comparison_chart(path: Path, compared: Mapping[str, Any]) -> None:
    """One chart of every reform against the baseline: each fund flow (with its % change)
    and the covered persons and households at cap, the reforms' changes in the header."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    rows = compared["comparison"]
    fig, (flows, counts) = plt.subplots(1, 2, figsize=(15, 6.5),
                                        gridspec_kw={"width_ratios": [3, 1.4]})
    width = 0.8 / len(rows)
    labels = ["individual\ncontributions", "subsidy cost\n(assistance)", "fiscal subsidy\ndue",
              "outpatient\nreimbursement", "net of the\npool"]
    for i, row in enumerate(rows):
        xs = [k + (i - (len(rows) - 1) / 2) * width for k in range(len(FLOWS))]
        values = [float(row[f]) for f in FLOWS]
        bars = flows.bar(xs, values, width, label=row["reform"])
        if i:
            for bar, f in zip(bars, FLOWS, strict=True):
                flows.annotate(percent_change(float(rows[0][f]), float(row[f])),
                               (bar.get_x() + bar.get_width() / 2, max(bar.get_height(), 0)),
                               ha="center", va="bottom", fontsize=7, rotation=90)
    flows.set_xticks(range(len(FLOWS)), labels, fontsize=8)
    flows.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: thousands(v)))
    flows.set_ylabel("yuan")
    flows.set_title("Fund flows, baseline and each reform (% change over the bars)")
    flows.margins(y=0.15)
    flows.legend(fontsize=8)
    names = [r["reform"] for r in rows]
    covered = [r["covered"] for r in rows]
    at_cap = [r["households_at_cap"] for r in rows]
    ys = range(len(rows))
    counts.barh([y + 0.2 for y in ys], covered, 0.4, label="covered persons")
    counts.barh([y - 0.2 for y in ys], at_cap, 0.4, label="households at cap")
    for y, r in zip(ys, rows, strict=True):
        counts.annotate(f"{thousands(r['covered'])} covered, {thousands(r['dropped_out'])} "
                        f"dropped out, {thousands(r['households_at_cap'])} at cap",
                        (0, y + 0.45), fontsize=7)
    counts.set_yticks(list(ys), names, fontsize=8)
    counts.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: thousands(v)))
    counts.set_title("Persons covered, households at their cap")
    counts.legend(fontsize=8)
    header = [f"What-if, {compared.get('scope_name') or 'scope'}: "
              f"{thousands(compared['households'])} households, "
              f"{thousands(compared['claims'])} claims; behaviour {compared['behaviour']}"
              + (f", take-up elasticity {compared['take_up_elasticity']} (seed "
                 f"{compared['seed']})" if compared.get("take_up_elasticity") else "")]
    header += [f"{r['reform']}: {r['changes']}" for r in rows[1:]]
    fig.suptitle("\n".join(header), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
