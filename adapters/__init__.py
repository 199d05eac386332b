"""Adapters: the event store application, policy files, CLI, generator and I/O."""
