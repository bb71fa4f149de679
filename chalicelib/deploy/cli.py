"""What `terraless deploy` and `terraless destroy` print."""
from __future__ import annotations

import re
import sys

from . import stack

PREFIX = re.compile(r"[a-z0-9][a-z0-9-]{1,23}\Z")   # infra/resources.yaml's Prefix pattern


def run(args) -> int:
    if not PREFIX.match(args.prefix):
        print(f"--prefix must match {PREFIX.pattern[:-2]} (it names every resource)", file=sys.stderr)
        return 2
    if args.command == "deploy":
        done = stack.deploy(args.prefix, region=args.region, profile=args.profile,
                            public_url=args.public_url)
        print(f"stack {done.stack} ({done.region}): {done.status}, {done.resources} resources")
        for kind in done.not_created:
            print(f"  not created by this CloudFormation (an emulator's gap): {kind}")
        if done.url:
            host = done.url.split("://", 1)[-1].split("/", 1)[0]
            print(f"API: {done.url}\nterraform CLI hostname: {host}")
        else:
            print("API: no function URL here (this CloudFormation did not create it)")
        if done.admin_token:
            print(f"site-admin token (shown once): {done.admin_token}")
        else:
            print("site admin exists: its tokens are not shown again")
        return 0
    if args.delete_data and args.keep_data:
        print("--delete-data and --keep-data contradict each other", file=sys.stderr)
        return 2
    done = stack.destroy(args.prefix, region=args.region, profile=args.profile,
                         delete_data=args.delete_data)
    for line in done["removed"]:
        print(f"removed {line}")
    for line in done["retained"]:
        print(f"kept (data; --delete-data removes it) {line}")
    return 0
