"""Counting what the archive holds: bounded-memory scans behind ``streamer verify``."""
