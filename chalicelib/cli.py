"""The `terraless` console script."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="terraless", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dev", help="run the whole service locally on the embedded AWS emulator")
    template = sub.add_parser("template", help="write the deployable CloudFormation template "
                              "(chalice package merged with infra/resources.yaml)")
    template.add_argument("--out", default=".terraless/deploy-template.json")
    sub.add_parser("provision", help="create the infra/ resources at AWS_ENDPOINT_URL or in AWS")
    args = parser.parse_args(argv)
    if args.command == "dev":
        from .local import devstack  # lazy: each command loads only what it runs
        return devstack.run()
    if args.command == "template":
        from .local import package  # lazy: as above
        print(package.build_template(args.out))
        return 0
    if args.command == "provision":
        from .local import provision  # lazy: as above
        for logical, physical in provision.provision().items():
            print(f"{logical}\t{physical}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
