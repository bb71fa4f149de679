"""Use cases: load -> domain rule -> conditional save -> emit. No HTTP, no rendering."""
