"""`python -m chalicelib.deploy.bootstrap`: print a new stack's first site-admin token, once
(nothing when the stack has its site admin). Run by `terraless deploy` in a process of its own
with TERRALESS_PREFIX set: the service's tables are named after the prefix it imports with."""
from __future__ import annotations

import sys

from ..services import identity


def main() -> int:
    token = identity.first_site_admin_token()
    if token:
        print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
