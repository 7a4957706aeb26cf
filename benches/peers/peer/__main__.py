"""python -m peer check WORK          correctness checks on the inputs in WORK (exit 1 naming each failure)
python -m peer bench WORK [--iterations N] [--warmup N] [--rounds N]
                                    in-process exchanges/s per path, as JSON on stdout"""

import argparse
import json
import os
import statistics
import sys
import time

from . import Peer, checks


def bench(work, iterations, warmup, rounds):
    es, rs = Peer("ES256"), Peer("RS256")
    xml = open(os.path.join(work, "sample.xml"), "rb").read()
    token = open(os.path.join(work, "sample.jwt")).read().strip()
    paths = {
        "saml_to_jwt/ES256": (es.saml_to_jwt.exchange, xml),
        "saml_to_jwt/RS256": (rs.saml_to_jwt.exchange, xml),
        "jwt_to_saml/ES256-in": (es.jwt_to_saml.exchange, token),
    }
    out = {}
    for name, (fn, arg) in paths.items():
        for _ in range(warmup):
            fn(arg)
        rates = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(iterations):
                fn(arg)
            rates.append(iterations / (time.perf_counter() - start))
        # The median round: one round that a neighbour's burst slowed down does not move it.
        out[name] = {"per_s": statistics.median(rates), "rounds": rates, "iterations": iterations}
    return out


def main(argv):
    parser = argparse.ArgumentParser(prog="peer")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check")
    c.add_argument("work")
    b = sub.add_parser("bench")
    b.add_argument("work")
    b.add_argument("--iterations", type=int, default=1000)
    b.add_argument("--warmup", type=int, default=100)
    b.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.command == "check":
        failures = checks.run(args.work)
        for f in failures:
            print("peer check: FAILED: %s" % f, file=sys.stderr)
        if failures:
            return 1
        print("peer check: ok (accepts the gateway's samples, refuses the forgeries)", file=sys.stderr)
        return 0
    json.dump(bench(args.work, args.iterations, args.warmup, args.rounds), sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
