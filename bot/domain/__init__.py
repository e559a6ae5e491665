"""Pure business rules: standard library only, time passed in as ``now``."""
