"""The `terraless` console script."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["agent"]:
        from .agent import main as agent  # lazy: an agent's machine runs nothing else
        return agent.main(argv[1:])
    parser = argparse.ArgumentParser(prog="terraless", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dev", help="run the whole service locally on the embedded AWS emulator")
    sub.add_parser("agent", help="run an agent pool's phases on this machine (--help for its options)")
    template_cmd = sub.add_parser("template", help="write the deployable CloudFormation template "
                              "(chalice package merged with infra/resources.yaml)")
    template_cmd.add_argument("--out", default=".terraless/deploy-template.json")
    sub.add_parser("provision", help="create the infra/ resources at AWS_ENDPOINT_URL or in AWS")
    deploy_cmd = sub.add_parser("deploy", help="create or update the serverless stack (AWS, or "
                                "the emulator at AWS_ENDPOINT_URL)")
    destroy_cmd = sub.add_parser("destroy", help="remove the stack; its data stays unless "
                                 "--delete-data")
    for cmd in (deploy_cmd, destroy_cmd):
        cmd.add_argument("--prefix", default="terraless",
                         help="names every resource; one stack per prefix and region")
        cmd.add_argument("--region")
        cmd.add_argument("--profile")
    deploy_cmd.add_argument("--public-url", help="the API's URL when it is served under a "
                            "domain of yours (default: the function URL)")
    destroy_cmd.add_argument("--delete-data", action="store_true",
                             help="also delete the tables, the blobs bucket and the KMS key")
    destroy_cmd.add_argument("--keep-data", action="store_true", help="the default, said aloud")
    args = parser.parse_args(argv)
    if args.command in ("deploy", "destroy"):
        from .deploy import cli  # lazy: as below
        return cli.run(args)
    if args.command == "dev":
        from .local import devstack  # lazy: each command loads only what it runs
        return devstack.run()
    if args.command == "template":
        from .deploy import template  # lazy: as above
        print(template.build_template(args.out))
        return 0
    if args.command == "provision":
        from .local import provision  # lazy: as above
        for logical, physical in provision.provision().items():
            print(f"{logical}\t{physical}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
