"""Configuration: the pydantic model, the YAML loader, services resolution, units."""
