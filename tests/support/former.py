"""The ledger as it wrote stores before compact events (ADRs 52 and 53): states stored as
the transcoder's JSON, chain rows in format "1" (naming their event's originator id and
version). Tests write such stores and check that the current ledger opens, extends, queries
and verifies them."""

from __future__ import annotations

from adapters.stores.events import LedgerApplication


class FormerLedgerApplication(LedgerApplication):
    """The event store as the ledger wrote it before ADRs 52 and 53."""

    compressor_topic = ""
    chain_format = "1"
