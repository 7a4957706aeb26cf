"""Prints the peer comparison as Markdown from what run.sh collected in WORK (standard library only):

    python3 benches/peers/report.py WORK CRITERION_DIR
"""

import json
import os
import re
import statistics
import sys

PATHS = [
    # (label, criterion id, peer in-process key, HTTP key, signatures the path cannot avoid)
    ("SAML → JWT (ES256)", "pipeline/saml_to_jwt/ES256", "saml_to_jwt/ES256", "saml-es",
     ("rsa_verify", "p256_sign")),
    ("SAML → JWT (RS256)", "pipeline/saml_to_jwt/RS256", "saml_to_jwt/RS256", "saml-rs",
     ("rsa_verify", "rsa_sign")),
    ("JWT (ES256) → SAML", "pipeline/jwt_to_saml/ES256-in", "jwt_to_saml/ES256-in", "jwt",
     ("p256_verify", "rsa_sign")),
]
NAMES = {"rsa_verify": "RSA-2048 verify", "rsa_sign": "RSA-2048 sign", "p256_sign": "P-256 sign",
         "p256_verify": "P-256 verify"}


def speed(path):
    text = open(path).read()
    rsa = re.search(r"^rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", text, re.M)
    ec = re.search(r"256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", text)
    if not rsa or not ec:
        sys.exit("report: cannot read the openssl speed output")
    return {"rsa_sign": float(rsa.group(1)), "rsa_verify": float(rsa.group(2)),
            "p256_sign": float(ec.group(1)), "p256_verify": float(ec.group(2))}


def criterion(root, bench_id):
    # Criterion names the folder after the id with '/' replaced.
    path = os.path.join(root, bench_id.replace("/", "_"), "new", "estimates.json")
    est = json.load(open(path))
    ns = (est.get("slope") or est["mean"])["point_estimate"]
    return 1e9 / ns


def http(path):
    """{(path, system, concurrency): [result dicts of each round]}"""
    runs = {}
    for line in open(path):
        key, _, result = line.rstrip("\n").partition("\t")
        fields = dict(kv.split("=", 1) for kv in result.split()[1:])
        runs.setdefault(tuple(key.split(",")), []).append({k: float(v) for k, v in fields.items()})
    return runs


def mean(runs, field):
    return statistics.fmean(r[field] for r in runs)


def errors(runs):
    return int(sum(r["non200"] + r["socket_errors"] for r in runs))


def main(work, criterion_root):
    ops = speed(os.path.join(work, "speed.txt"))
    # Every round of both runs of the peer's loop (before and after criterion); the median of them all.
    peer = {}
    for run in ("peer-inproc-1.json", "peer-inproc-2.json"):
        for key, result in json.load(open(os.path.join(work, run))).items():
            peer.setdefault(key, []).extend(result["rounds"])
    runs = http(os.path.join(work, "http.tsv"))
    rounds = max(len(v) for v in runs.values())

    print("| path | gateway in-process /s | peer in-process /s | ratio | gateway HTTP c=32 /s (p99 ms) "
          "| peer HTTP c=32 /s (p99 ms) | ratio | gateway c=1 p50 ms | peer c=1 p50 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    ceilings = []
    bad, notes = [], []
    for label, bench_id, peer_key, http_key, sigs in PATHS:
        gw_in = criterion(criterion_root, bench_id)
        peer_in = statistics.median(peer[peer_key])
        g32, p32 = runs[(http_key, "gateway", "32")], runs[(http_key, "peer", "32")]
        g1, p1 = runs[(http_key, "gateway", "1")], runs[(http_key, "peer", "1")]
        for system, c, r in (("gateway", 32, g32), ("peer", 32, p32), ("gateway", 1, g1), ("peer", 1, p1)):
            refused = int(sum(x["non200"] for x in r))
            if refused:
                bad.append("%s %s c=%d: %d answers other than 200" % (label, system, c, refused))
            if errors(r) - refused:
                notes.append("%s %s c=%d: %d socket errors or timeouts (over wrk's 2 s)"
                             % (label, system, c, errors(r) - refused))
        print("| %s | %.0f | %.0f | %.2f× | %.0f (%.1f) | %.0f (%.1f) | %.2f× | %.2f | %.2f |" % (
            label, gw_in, peer_in, gw_in / peer_in,
            mean(g32, "rps"), mean(g32, "p99_ms"), mean(p32, "rps"), mean(p32, "p99_ms"),
            mean(g32, "rps") / mean(p32, "rps"), mean(g1, "p50_ms"), mean(p1, "p50_ms")))
        ceiling = 1 / sum(1 / ops[s] for s in sigs)
        ceilings.append((label, sigs, ceiling, gw_in, peer_in, mean(g32, "cpu_us"), mean(p32, "cpu_us")))

    print()
    print("Ratios are gateway ÷ peer (above 1: the gateway is faster). In-process: criterion's estimate for the "
          "gateway (audit to a null sink); the median of the peer's %d rounds (half before criterion, half "
          "after). HTTP: the mean of %d alternating gateway/peer wrk runs per cell; the gateway writes its "
          "access log (SQLite, fsync per commit group, on the file system the heading names), the peer "
          "writes none."
          % (len(peer[PATHS[0][2]]), rounds))
    print()
    print("Server CPU per exchange over HTTP at c=32 (user + system time of every thread and worker process "
          "÷ requests): it moves far less than throughput when other work shares the cores.")
    print()
    print("| path | gateway µs | peer µs | ratio (peer ÷ gateway) |")
    print("|---|---:|---:|---:|")
    for label, _, _, _, _, g_cpu, p_cpu in ceilings:
        print("| %s | %.0f | %.0f | %.2f× |" % (label, g_cpu, p_cpu, p_cpu / g_cpu))
    print()
    print("Crypto ceiling: the signatures each path cannot avoid, at `openssl speed` rates (per CPU second, "
          "one core), and each side's share of it: in-process (wall time, so a busy machine lowers it) and "
          "of its server's CPU per exchange over HTTP.")
    print()
    print("| path | signatures | ceiling /s (µs) | gateway in-process | peer in-process "
          "| gateway HTTP CPU | peer HTTP CPU |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for label, sigs, ceiling, gw_in, peer_in, g_cpu, p_cpu in ceilings:
        ceiling_us = 1e6 / ceiling
        print("| %s | %s | %.0f (%.0f) | %.0f%% | %.0f%% | %.0f%% | %.0f%% |" % (
            label, " + ".join(NAMES[s] for s in sigs), ceiling, ceiling_us, 100 * gw_in / ceiling,
            100 * peer_in / ceiling, 100 * ceiling_us / g_cpu, 100 * ceiling_us / p_cpu))
    print()
    print("openssl speed: RSA-2048 sign %.0f/s, verify %.0f/s; P-256 sign %.0f/s, verify %.0f/s." % (
        ops["rsa_sign"], ops["rsa_verify"], ops["p256_sign"], ops["p256_verify"]))
    for n in notes:
        print("NOTE: %s" % n)
    for b in bad:
        print("ERROR: %s" % b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
