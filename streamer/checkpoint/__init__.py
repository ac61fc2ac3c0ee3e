"""Where the daemon remembers its place: cursor, settled watermark, dedupe window, intents;
the stores (file, S3, Azure, memory), the store factory and the one-owner lease."""
