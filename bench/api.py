#!/usr/bin/env python3
"""HTTP API throughput with wrk at 64 connections, against a ceiling.

Measures requests/s and p99 latency of Inlet's GET /connectors/{id},
GET /connectors (a page of 50 out of 10,000) and POST /connectors, and of
the ceiling (examples/ceiling.rs: an axum server that authenticates nothing
and returns a static JSON body of a connector's size), in the same run,
several runs each; prints medians and ratios, and Inlet's peak RSS.

Usage: python3 bench/api.py [--runs 3] [--seconds 10]
Needs wrk (Debian package `wrk`; installed here when missing).
"""
import argparse, os, shutil, statistics, subprocess, tempfile
from concurrent.futures import ThreadPoolExecutor
from common import Inlet, apt_install, build, http, wrk

INLET_HTTP, INLET_SMTP, CEILING = 18981, 18926, "127.0.0.1:18990"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    apt_install("wrk", commands=["wrk"])
    release = build("--example", "ceiling")
    work = tempfile.mkdtemp(prefix="inlet-http-bench-")
    ceiling = subprocess.Popen([os.path.join(release, "examples", "ceiling"), CEILING, "520"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with Inlet(INLET_HTTP, INLET_SMTP, "[jobs]\nworkers = 0\n") as inlet:
            key = inlet.key
            base = f"{inlet.http}/contents/v1/connectors"
            body = {"type": "email", "label": "bench", "config": {"allowed_emails": ["desk@broker.example"]}}
            one = inlet.email_connector("bench")
            size = len(http("GET", f"{base}/{one['connector_id']}", key)[1])
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda _: http("POST", base, key, body), range(9999)))
            results = {name: [] for name in ["ceiling", "get one", "list 50 of 10,000", "create"]}
            for _ in range(args.runs):
                results["ceiling"].append(wrk(f"http://{CEILING}/", args.seconds, work=work))
                results["get one"].append(wrk(f"{base}/{one['connector_id']}", args.seconds, key, work=work))
                results["list 50 of 10,000"].append(wrk(f"{base}?limit=50", args.seconds, key, work=work))
            # Last: creating adds connectors, which the list must not see.
            for _ in range(args.runs):
                results["create"].append(wrk(base, args.seconds, key, post=body, work=work))
            rss = inlet.peak_rss_mb()
        ceiling_rps = statistics.median(r for r, _ in results["ceiling"])
        print(f"\nconnector body: {size} bytes; {args.runs} runs of {args.seconds} s, 64 connections; medians\n")
        print("| endpoint | requests/s | p99 ms | vs ceiling |")
        print("| --- | --- | --- | --- |")
        for name, runs in results.items():
            rps = statistics.median(r for r, _ in runs)
            p99 = statistics.median(p for _, p in runs)
            print(f"| {name} | {rps:.0f} | {p99:.2f} | {rps / ceiling_rps:.2f} |")
        print(f"\nInlet peak RSS: {rss:.0f} MB")
    finally:
        ceiling.terminate()
        ceiling.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
