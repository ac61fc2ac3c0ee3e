"""Where events land: one module per storage service, listed in ``registry.py``."""
