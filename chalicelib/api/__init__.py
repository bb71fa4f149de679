"""HTTP: one blueprint per resource, JSON:API rendering, and the one error map."""
