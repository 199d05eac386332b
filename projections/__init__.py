"""Read models projected from the ledger's events."""
