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
import argparse, json, os, re, shutil, statistics, subprocess, tempfile
from concurrent.futures import ThreadPoolExecutor
from common import Inlet, apt_install, build, http

INLET_HTTP, INLET_SMTP, CEILING = 18981, 18926, "127.0.0.1:18990"


def wrk(url, seconds, key=None, post=None, work=None):
    script = os.path.join(work, "wrk.lua")
    with open(script, "w") as f:
        if key:
            f.write(f'wrk.headers["X-API-KEY"] = "{key}"\n')
        if post:
            f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
            f.write(f"wrk.body = [[{json.dumps(post)}]]\n")
    out = subprocess.run(["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency", "-s", script, url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"{url}: {errors.group(1)} error responses\n{out}")
    return rps, p99


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
