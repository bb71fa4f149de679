"""Deploying Terraless to AWS (or an emulator by endpoint): template, package, stack."""
