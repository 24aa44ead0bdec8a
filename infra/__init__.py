"""Wiring between the pure domain and the outside world: settings, logging, crypto, connections."""
