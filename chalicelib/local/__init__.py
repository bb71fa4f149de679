"""The embedded dev stack: emulator, resources from infra/, HTTP server, event dispatch."""
