"""Wiring between the pure domain and the outside world: settings, logging, crypto, connections."""

import zoneinfo

# Time-zone rules come only from the locked `tzdata` package, never the host's zoneinfo files:
# every worker of a release then computes the same deadlines and timers for the same zone, and a
# change of rules arrives as a lock change, deployed like code. Every entry point imports infra
# before it builds a zone; the cache is cleared in case something built one from the host's files.
zoneinfo.reset_tzpath(to=[])
zoneinfo.ZoneInfo.clear_cache()
