"""``make bench``: throughput, memory and backfill speed of streamer, printed as one table.

Run ``python -m bench.run`` (``--quick`` for a smaller, faster pass). Every heavy item runs
in its own subprocess (see :mod:`bench.scenarios`) so peak RSS is per scenario, and every
simulator runs in yet another process (``streamer simulate``) so only the daemon is
measured.
"""
