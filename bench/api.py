#!/usr/bin/env python3
"""HTTP API throughput with wrk at 64 connections, against a ceiling.

Measures requests/s and p99 latency of Inlet's GET /connectors/{id},
GET /connectors (a page of 50 out of 10,000), GET /documents (a page of 50
out of 10,000) and POST /connectors, and of their ceilings
(examples/ceiling.rs: an axum server that authenticates nothing and returns
a static JSON body of the same size as Inlet's answer: one for a connector,
one for each list page), in the same run, several runs each; prints medians,
each endpoint's ratio to its own ceiling, and Inlet's peak RSS.

Usage: python3 bench/api.py [--runs 3] [--seconds 10] [--no-kept-answers]

With --no-kept-answers every read is a query (`[http] kept_answers_bytes =
0`); by default a repeated read is answered from what was kept while the
database is unchanged, as a server runs by default.
Needs wrk (Debian package `wrk`; installed here when missing).
"""
import argparse, os, shutil, statistics, subprocess, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from common import Inlet, apt_install, build, http, wrk

INLET_HTTP, INLET_SMTP, CEILING_HOST, CEILING_PORT = 18981, 18926, "127.0.0.1", 18990


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--no-kept-answers", action="store_true")
    args = ap.parse_args()
    extra = "[jobs]\nworkers = 0\n" + ("[http]\nkept_answers_bytes = 0\n" if args.no_kept_answers else "")
    apt_install("wrk", commands=["wrk"])
    release = build("--example", "ceiling")
    work = tempfile.mkdtemp(prefix="inlet-http-bench-")
    ceilings = []

    def ceiling(size):
        """A ceiling server answering `size` bytes; its URL."""
        addr = f"{CEILING_HOST}:{CEILING_PORT + len(ceilings)}"
        ceilings.append(subprocess.Popen([os.path.join(release, "examples", "ceiling"), addr, str(size)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return f"http://{addr}/"

    try:
        with Inlet(INLET_HTTP, INLET_SMTP, extra) as inlet:
            key = inlet.key
            base = f"{inlet.http}/contents/v1/connectors"
            documents = f"{inlet.http}/contents/v1/documents"
            body = {"type": "email", "label": "bench", "config": {"allowed_emails": ["desk@broker.example"]}}
            one = inlet.email_connector("bench")
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda _: http("POST", base, key, body), range(9999)))
                list(pool.map(lambda i: http("POST", documents, key, {"file_name": f"note-{i}.pdf"}),
                              range(10000)))
            # name: (Inlet's URL, the size of its answer, which the ceiling returns)
            endpoints = {
                "get one": f"{base}/{one['connector_id']}",
                "list 50 of 10,000": f"{base}?limit=50",
                "documents 50 of 10,000": f"{documents}?page_size=50",
            }
            sizes = {name: len(http("GET", url, key)[1]) for name, url in endpoints.items()}
            ceiling_of = {name: ceiling(size) for name, size in sizes.items()}
            time.sleep(0.5)
            results = {name: ([], []) for name in endpoints}
            for _ in range(args.runs):
                for name, url in endpoints.items():
                    results[name][1].append(wrk(ceiling_of[name], args.seconds, work=work))
                    results[name][0].append(wrk(url, args.seconds, key, work=work))
            # Last: creating adds connectors, which the list must not see.
            results["create"] = ([], results["get one"][1])
            for _ in range(args.runs):
                results["create"][0].append(wrk(base, args.seconds, key, post=body, work=work))
            rss = inlet.peak_rss_mb()
        print(f"\n{args.runs} runs of {args.seconds} s, 64 connections; medians\n")
        print("| endpoint | body bytes | requests/s | p99 ms | ceiling requests/s | vs ceiling |")
        print("| --- | --- | --- | --- | --- | --- |")
        for name, (runs, ceiling_runs) in results.items():
            rps = statistics.median(r for r, _ in runs)
            p99 = statistics.median(p for _, p in runs)
            top = statistics.median(r for r, _ in ceiling_runs)
            size = sizes.get(name, sizes["get one"])
            print(f"| {name} | {size} | {rps:.0f} | {p99:.2f} | {top:.0f} | {rps / top:.2f} |")
        print(f"\nInlet peak RSS: {rss:.0f} MB")
    finally:
        for c in ceilings:
            c.terminate()
            c.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
