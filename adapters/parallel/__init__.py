"""Partitioned replays on Dask (ADR 55): the cluster, and the tasks its workers run. Each
worker opens the store itself from a `StoreSource` (read-only) and decides by the policies it
loads from the same folder; only plans, sources and findings travel."""
