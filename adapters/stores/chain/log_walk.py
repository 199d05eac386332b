"""The walk through the log in notification order: its log links, gaps and displaced rows,
and the breaks the stream walk has not explained."""

from __future__ import annotations

from attrs import frozen

from adapters.stores.chain.keys import GENESIS, Mac
from adapters.stores.chain.readers import Reader
from adapters.stores.chain.report import Problems, Seal

MAX_SUSPECTS = 10_000  # mismatched events kept for classification


@frozen
class LogBreak:
    position: int
    previous: int  # the preceding chain row's position, 0 at the start
    oid: str | None  # None: a format "2" row whose event is gone
    version: int | None


class Log:
    """What the walk through the log found."""

    def __init__(self) -> None:
        self.breaks: list[LogBreak] = []
        self.broken: set[tuple[str, int]] = set()  # chain rows whose log link is wrong
        self.gaps: list[tuple[int, int]] = []  # positions missing from the chain
        self.elsewhere: dict[tuple[str, int], tuple[int, bytes]] = {}  # not at their event
        self.orphans: dict[int, bytes] = {}  # format "2": rows whose event is gone, by position
        self.seal: Seal | None = None
        self.count = 0


def walk_log(reader: Reader, mac: Mac, limit: int, problems: Problems) -> Log:
    """Check every log link against its predecessor's stored log link, and note the chain
    rows whose position does not hold their event (format "1": rows naming another event;
    format "2", whose rows name none: rows at a position without an event)."""
    named = reader.sql.named
    row = "c" if named else "e"  # the originator the chain row is taken to belong to
    rows = reader.stream(
        f"SELECT c.notification_id, {row}.originator_id, {row}.originator_version, c.link, "
        "c.log_link, e.originator_id, e.originator_version FROM {chain} c "
        "LEFT JOIN {events} e ON e.{pos}=c.notification_id "
        "WHERE c.notification_id<={p} ORDER BY c.notification_id", (limit,))
    log = Log()
    previous_position, previous_log = 0, GENESIS
    log_link_of = mac.log_link
    for nid, oid, version, link, log_link, event_oid, event_version in rows:
        log.count += 1
        if nid > previous_position + 1:
            log.gaps.append((previous_position + 1, nid - 1))
        if not named and event_oid is None and type(link) is bytes \
                and type(log_link) is bytes:
            if log_link != log_link_of(previous_log, link, nid) \
                    and len(log.breaks) < MAX_SUSPECTS:
                log.breaks.append(LogBreak(nid, previous_position, None, None))
            if len(log.orphans) < MAX_SUSPECTS:
                log.orphans[nid] = link
            previous_position, previous_log = nid, log_link
            log.seal = Seal(nid, log_link.hex())
            continue
        if not (type(oid) is str and type(version) is int and type(link) is bytes
                and type(log_link) is bytes):
            problems.add("edited", str(oid), version if type(version) is int else None, nid,
                         f"the chain row at position {nid} has a column of the wrong type: it "
                         "was altered outside the ledger")
            previous_position, previous_log = nid, b""
            continue
        if log_link != log_link_of(previous_log, link, nid) and len(log.breaks) < MAX_SUSPECTS:
            log.breaks.append(LogBreak(nid, previous_position, oid, version))
            log.broken.add((oid, version))
        if (event_oid != oid or event_version != version) and len(log.elsewhere) < 1_000_000:
            log.elsewhere[(oid, version)] = (nid, link)
        previous_position, previous_log = nid, log_link
        log.seal = Seal(nid, log_link.hex())
    return log


def report_breaks(breaks: list[LogBreak], problems: Problems, unlinked: set[int]) -> None:
    """Log links that do not follow from their predecessor and that the stream walk has not
    explained already."""
    located = problems.located
    previous_row: dict[int, tuple[str, int]] = {}
    for b in breaks:
        previous_row[b.position] = (b.oid, b.version)
    for b in breaks:
        if b.position > b.previous + 1:
            missing = range(b.previous + 1, b.position)
            if all(p in unlinked for p in missing):
                continue
            span = (f"position {missing[0]}" if len(missing) == 1
                    else f"positions {missing[0]}-{missing[-1]}")
            problems.add("deleted", None, None, missing[0],
                         f"{span} of the log {'is' if len(missing) == 1 else 'are'} gone "
                         f"together with {'its' if len(missing) == 1 else 'their'} chain "
                         f"link{'s' if len(missing) > 1 else ''} (the link at position "
                         f"{b.position} does not follow from position {b.previous})")
            continue
        if (b.oid, b.version) in located or previous_row.get(b.previous) in located:
            continue
        event = (f" (stream {b.oid} version {b.version})" if b.oid is not None
                 else " (its event is gone)")
        problems.add("edited", b.oid, b.version, b.position,
                     f"the log link at position {b.position}{event} does not follow from "
                     f"position {b.previous}: the chain row was rewritten")
