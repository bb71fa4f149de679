"""Pure domain: entities, statuses and the transitions they allow. Imports no AWS or web code."""
