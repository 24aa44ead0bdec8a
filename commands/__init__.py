"""The operations behind `starter.py`, importable: each takes a connected client and a body."""
