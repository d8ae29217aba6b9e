"""`python -m infra.kafka {check,apply,commands}`: the production topics on a cluster.

- check: the brokers validate every definition (configs, partitions, replication);
  nothing changes.
- apply: create missing topics, raise partition counts, set configs; never deletes.
- commands: print the kafka-topics.sh / kafka-configs.sh lines doing the same.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from infra.kafka.topics import (
    EXISTS,
    VALID,
    admin_client,
    apply,
    kafka_topics_commands,
    load_topics,
    validate_on_cluster,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.kafka", description=__doc__)
    parser.add_argument("action", choices=("check", "apply", "commands"))
    parser.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        help="the cluster (default: KAFKA_BOOTSTRAP_SERVERS, else 127.0.0.1:9092)",
    )
    parser.add_argument(
        "--replication-factor",
        type=int,
        default=None,
        help="check only: override the defined replication (for a cluster with fewer brokers)",
    )
    args = parser.parse_args(argv)
    specs = load_topics()
    if args.action == "commands":
        print("\n".join(kafka_topics_commands(specs, args.bootstrap_servers)))
        return 0
    admin = admin_client(args.bootstrap_servers)
    if args.action == "check":
        verdicts = validate_on_cluster(admin, specs, replication_factor=args.replication_factor)
        for name, verdict in verdicts.items():
            print(f"{name}: {verdict}")
        return 0 if all(verdict in (VALID, EXISTS) for verdict in verdicts.values()) else 1
    for line in apply(admin, specs):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
