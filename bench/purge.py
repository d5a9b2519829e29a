#!/usr/bin/env python3
"""Hard-delete purge at scale.

Each run fills an email connector with N documents through Inlet's own SMTP
receiver, then hard-deletes it and measures: the time until GET answers 404,
against a baseline of `rm -rf` of a copy of the same blob files plus one SQL
DELETE of the same rows; the p99 latency of GET /connectors/{id} (another
connector) during the purge against idle; and Inlet's peak RSS. Prints each
run and the medians.

Latency is sampled the same way idle and during the purge: one client on a
kept-alive connection, one request every 5 ms, for `--idle` seconds right
before the purge and then until the purge ends.

Usage: python3 bench/purge.py [--runs 3] [--documents 100000] [--senders 16] [--idle 10]
Needs only Python's standard library and a release build (built here).
"""
import argparse, os, shutil, smtplib, sqlite3, threading, time, urllib.parse
from http.client import HTTPConnection
from common import Inlet, build, http, median


def p99(samples):
    samples = sorted(samples)
    return samples[int(len(samples) * 0.99) - 1] * 1000 if samples else float("nan")


def sample(url, key, stop, out, seconds=None):
    """GET `url` every 5 ms on one kept-alive connection until `stop` is set
    (or for `seconds`), appending each latency in seconds to `out`."""
    u = urllib.parse.urlparse(url)
    conn = HTTPConnection(u.hostname, u.port, timeout=60)
    end = time.perf_counter() + seconds if seconds else None
    while not stop.is_set() and (end is None or time.perf_counter() < end):
        t = time.perf_counter()
        conn.request("GET", u.path, headers={"X-API-KEY": key})
        response = conn.getresponse()
        response.read()
        out.append(time.perf_counter() - t)
        assert response.status == 200, response.status
        time.sleep(0.005)
    conn.close()


def deliver(inlet, inbox, documents, senders):
    per = documents // senders

    def send(n):
        s = smtplib.SMTP("127.0.0.1", inlet.smtp_port)
        s.ehlo("bench")
        for i in range(per):
            msg = (f"From: desk@broker.example\r\nTo: {inbox}\r\nSubject: note {n}-{i}\r\n"
                   f"Message-ID: <{n}-{i}@bench>\r\n\r\n" + "research " * 100 + "\r\n")
            s.sendmail("desk@broker.example", [inbox], msg)
        s.quit()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    # Let the attachment jobs (one per message) drain.
    while b'inlet_job_queue_depth{state="queued"} 0' not in http("GET", f"{inlet.http}/metrics")[1]:
        time.sleep(0.5)
    return per * senders


def run(args):
    with Inlet(18980, 18925, "[smtp]\nmax_sessions = 200\nmax_sessions_per_ip = 200\n") as inlet:
        base = f"{inlet.http}/contents/v1"
        key, data = inlet.key, inlet.data
        target_c, other_c = inlet.email_connector("bench"), inlet.email_connector("other")
        t0 = time.perf_counter()
        total = deliver(inlet, target_c["config"]["email"], args.documents, args.senders)
        ingest_s = time.perf_counter() - t0
        print(f"  ingested {total} in {ingest_s:.1f} s ({total / ingest_s:.0f} messages/s)", flush=True)

        # Baseline: the same files and rows, removed the crude way. Inlet's
        # blobs were fsync'd when stored; let the copies reach the disk too,
        # or rm -rf races their writeback (3 s to 13 s, seen).
        baseline = os.path.join(inlet.work, "baseline")
        shutil.copytree(data, baseline)
        os.sync()

        other_url = f"{base}/connectors/{other_c['connector_id']}"
        idle = []
        sample(other_url, key, threading.Event(), idle, args.idle)

        target_url = f"{base}/connectors/{target_c['connector_id']}"
        during, stop = [], threading.Event()
        sampler = threading.Thread(target=sample, args=(other_url, key, stop, during))
        sampler.start()
        t0 = time.perf_counter()
        status, _ = http("DELETE", target_url + "?force_delete=true", key)
        assert status == 200, status
        while http("GET", target_url, key)[0] != 404:
            time.sleep(0.05)
        purge_s = time.perf_counter() - t0
        stop.set()
        sampler.join()

        os.sync()
        t0 = time.perf_counter()
        shutil.rmtree(os.path.join(baseline, "blobs"))
        db = sqlite3.connect(os.path.join(baseline, "inlet.db"))
        db.execute("DELETE FROM documents WHERE connector_id = ?", (target_c["connector_id"],))
        db.commit()
        db.close()
        baseline_s = time.perf_counter() - t0
        result = dict(documents=total, ingest=total / ingest_s, purge=purge_s, baseline=baseline_s,
                      idle=p99(idle), during=p99(during), samples=len(during), rss=inlet.peak_rss_mb())
        print(f"  purge {purge_s:.2f} s, baseline {baseline_s:.2f} s ({purge_s / baseline_s:.2f}); "
              f"GET p99 idle {result['idle']:.2f} ms, during {result['during']:.2f} ms "
              f"({result['during'] / result['idle']:.2f}, {len(during)} samples); "
              f"peak RSS {result['rss']:.0f} MB", flush=True)
        return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--documents", type=int, default=100_000)
    ap.add_argument("--senders", type=int, default=16)
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of idle latency sampling")
    args = ap.parse_args()

    build()
    results = []
    for n in range(args.runs):
        print(f"run {n + 1} of {args.runs}: {args.documents} messages over {args.senders} SMTP sessions",
              flush=True)
        results.append(run(args))

    def med(name):
        return median([r[name] for r in results])

    ratio = median([r["purge"] / r["baseline"] for r in results])
    latency = median([r["during"] / r["idle"] for r in results])
    print(f"\n{args.runs} runs, medians\n")
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| documents | {results[0]['documents']} |")
    print(f"| SMTP ingestion (smtplib, {args.senders} sessions, 1 KB messages) | {med('ingest'):.0f} msg/s |")
    print(f"| purge until GET is 404 | {med('purge'):.2f} s |")
    print(f"| baseline: rm -rf blobs + one SQL DELETE | {med('baseline'):.2f} s |")
    print(f"| purge / baseline | {ratio:.2f} |")
    print(f"| GET p99 idle | {med('idle'):.2f} ms |")
    print(f"| GET p99 during purge | {med('during'):.2f} ms |")
    print(f"| p99 during / idle | {latency:.2f} |")
    print(f"| peak RSS | {max(r['rss'] for r in results):.0f} MB |")


if __name__ == "__main__":
    main()
