"""Terraless: the Chalice application's library (domain, services, storage, AWS, API, workers)."""
