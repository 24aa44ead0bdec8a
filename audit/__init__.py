"""The auditor's tools behind `auditor.py`: replay, readable timelines, projection rebuild/verify.

Everything here takes a connected `Client` (and an `Engine` where PostgreSQL is involved), so the
CLI and the tests share one code path.
"""
