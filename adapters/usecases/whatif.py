"""What-if as one use case: a patch applied to the policies in scope, the recorded history
re-decided by the chosen engine(s), one summary (for the command line and HTTP alike)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from attrs import frozen

from adapters.stores.columnar import ColumnarStore
from adapters.stores.columnar.catchup import catch_up as columnar_catch_up
from adapters.stores.columnar.read import ScopeColumns, read_scope
from adapters.stores.columnar.store import ColumnarFailed
from adapters.stores.policy_files import apply_patch
from adapters.whatif.behaviour import Behaviour
from adapters.whatif.columnar import baseline_from_columns, columnar_whatif
from adapters.whatif.exact import (
    Scope,
    Side,
    compare_claims,
    exact_whatif,
    read_history,
    report,
)
from adapters.whatif.fast import (
    ClaimsFacts,
    TimelineReplay,
    baseline_from_views,
    changes_coverage,
    fast_whatif,
)
from adapters.whatif.flows import flow_report, name_of, patch_changes, region_names
from domain.errors import LedgerError, PolicyError
from domain.policy_book import PolicyBook
from domain.rules.behaviour import BEHAVIOURS, PAY_NEW_DUE
from projections.views import LedgerViews, NotificationLog, catch_up

ENGINES = ("fast", "exact", "both")
#: The default behaviour (ADR 81): payers who were covered pay what the reform makes due.
PAY_NEW_DUE_ONLY = Behaviour(PAY_NEW_DUE)


class WhatIfRefused(LedgerError):
    """A what-if that cannot run: `invalid_input` (the patch) or `no_policy` (the scope)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


@frozen
class WhatIf:
    """A what-if's summary and both sides it compared."""

    scope: Scope
    summary: dict[str, Any]
    baseline: Side
    reform: Side
    disagreements: list[dict[str, Any]]
    #: The reform side without the behavioural response (the reform side itself when none).
    mechanical: Side | None = None


def reform_of(book: PolicyBook, patch: Mapping[str, Any], source: str, region: str | None,
              year: int | None) -> PolicyBook:
    """The policies with the patch applied to those in force in scope; WhatIfRefused for a
    patch that cannot be applied or matches no policy."""
    try:
        reform = apply_patch(book, patch, source, region, year)
    except PolicyError as e:
        raise WhatIfRefused("invalid_input", f"policy patch: {e}") from None
    except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError) as e:
        raise WhatIfRefused("invalid_input",
                            f"policy patch: cannot be applied ({type(e).__name__})") from None
    if not any(p.version.endswith("+whatif") for p in reform):
        raise WhatIfRefused("no_policy", f"no policy in force matches the scope "
                            f"({Scope(region, year)})")
    return reform


#: The exact engine's two sides (baseline, reform) of (store, book, reform, scope), computed
#: elsewhere (in partitions on Dask, ADR 55).
ExactSides = Callable[[Any, PolicyBook, PolicyBook, Scope, Behaviour], tuple[Side, Side]]


def run_whatif(store: NotificationLog, views: LedgerViews | None, book: PolicyBook,
               reform: PolicyBook, patch: Mapping[str, Any], scope: Scope, engine: str,
               refresh: Callable[[], Any] | None = None,
               columnar: ColumnarStore | None = None,
               exact_sides: ExactSides | None = None,
               timeline_replay: TimelineReplay | None = None,
               behaviour: Behaviour = PAY_NEW_DUE_ONLY) -> WhatIf:
    """Re-decide the scope's recorded history under `reform` with the fast engine (from the
    views, caught up first by `refresh` or here, and for a claims-only patch from the
    `columnar` store when given, caught up to the views; coverage re-derived here or by
    `timeline_replay`), the exact one (a replay of the log, here or by `exact_sides`), or both,
    compared claim by claim; the payers answering the reform as `behaviour` says (ADR 81),
    and with a behavioural response decided once more without it (the mechanical effect).
    Nothing is written."""
    if engine not in ENGINES:
        raise WhatIfRefused("invalid_input", f"engine must be fast, exact or both; got "
                            f"{engine!r}")
    if behaviour.kind not in BEHAVIOURS:
        raise WhatIfRefused("invalid_input", f"behaviour must be one of "
                            f"{', '.join(BEHAVIOURS)}; got {behaviour.kind!r}")
    if behaviour.responds and behaviour.kind != PAY_NEW_DUE:
        raise WhatIfRefused("invalid_input", "a take-up elasticity needs the behaviour "
                            "pay-new-due (payers who stay pay the new due)")
    args = (store, views, book, reform, patch, scope, engine, refresh, columnar, exact_sides,
            timeline_replay)
    result = _decided(*args, behaviour)
    mechanical = result.reform
    if behaviour.responds and changes_coverage(patch):
        mechanical = _decided(*args, behaviour.mechanical).reform
    summary = summarise(scope, result.baseline, result.reform, mechanical, engine, book, reform,
                        behaviour, patch)
    for key in ("engines_agree", "disagreements"):
        if key in result.summary:
            summary[key] = result.summary[key]
    return WhatIf(scope, summary, result.baseline, result.reform, result.disagreements,
                  mechanical)


def described(book: PolicyBook, patch: Mapping[str, Any], scope: Scope,
              names: Mapping[str, str]) -> dict[str, Any]:
    """The summary's `scope_name` and `changes` (each patched field, old and new)."""
    name = name_of(names, scope.region) if scope.region else "all regions"
    if scope.region:
        name = f"{name} ({scope.region})" if name else f"region {scope.region}"
    if scope.year is not None:
        name += f", {scope.year}"
    return {"scope_name": name,
            "changes": patch_changes(book, patch, scope.region, scope.year)}


def summarise(scope: Scope, baseline: Side, reform_side: Side, mechanical: Side | None,
              engine: str, book: PolicyBook, reform: PolicyBook, behaviour: Behaviour,
              patch: Mapping[str, Any]) -> dict[str, Any]:
    """The what-if summary of sides decided (one store's, or merged from several)."""
    names = region_names(book)
    summary = report(scope, baseline, reform_side, engine)
    summary.update(behaviour.describe())
    summary.update(flow_report(baseline, mechanical or reform_side, reform_side, book, reform,
                               names))
    summary.update(described(book, patch, scope, names))
    return summary


def _decided(store: NotificationLog, views: LedgerViews | None, book: PolicyBook,
             reform: PolicyBook, patch: Mapping[str, Any], scope: Scope, engine: str,
             refresh: Callable[[], Any] | None, columnar: ColumnarStore | None,
             exact_sides: ExactSides | None, timeline_replay: TimelineReplay | None,
             behaviour: Behaviour) -> WhatIf:
    fast = exact = baseline = None
    if engine in ("fast", "both"):
        if views is None:
            raise WhatIfRefused("invalid_input", "the fast engine reads the views")
        if refresh is not None:
            refresh()
        else:
            catch_up(store, views)
        columns = None
        if columnar is not None and not changes_coverage(patch):
            columns = columnar_scope(store, views, columnar, scope)
        if columns is not None:
            baseline = baseline_from_columns(views.engine, scope, columns, views.personal)
            fast = columnar_whatif(views.engine, scope, columns, baseline, reform, patch)
        else:
            facts = ClaimsFacts(views.engine, scope)
            baseline = baseline_from_views(views.engine, scope, facts, views.personal)
            fast = fast_whatif(views.engine, scope, baseline, reform, patch, store, facts,
                               views.personal, timeline_replay, behaviour)
    if engine in ("exact", "both") and exact_sides is not None:
        baseline, exact = exact_sides(store, book, reform, scope, behaviour)
    elif engine in ("exact", "both"):
        history = read_history(store, book, scope)
        baseline = history.baseline
        exact = exact_whatif(history, reform, behaviour)
    side = fast if fast is not None else exact
    summary = report(scope, baseline, side, engine)
    disagreements = compare_claims(exact.claims, fast.claims) if fast and exact else []
    if engine == "both":
        summary["engines_agree"] = not disagreements
        summary["disagreements"] = len(disagreements)
    return WhatIf(scope, summary, baseline, side, disagreements)


def columnar_scope(store: NotificationLog, views: LedgerViews, columnar: ColumnarStore,
                   scope: Scope) -> ScopeColumns | None:
    """The scope's columns, the columnar store caught up to the position of the views (so
    that claims and the views' pools and person-years stand at one point of the log); None
    when it is ahead of the views (a view being rebuilt) or DuckDB fails under it (noted):
    then the views are read."""
    stop = min(views.positions().values())
    try:
        if columnar_catch_up(store, columnar, stop=stop, personal=views.personal) != stop:
            return None
        return read_scope(columnar, scope.region, scope.year)
    except ColumnarFailed as e:
        columnar.notes.append(f"{e}; the views were read instead")
        return None
