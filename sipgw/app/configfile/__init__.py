"""The settings file (``sipgw.toml``): found, read, checked, shown, converted from the old files."""
