"""`terraless agent` (main.py): runs an agent pool's phases on the machine it is started on."""
