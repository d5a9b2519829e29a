#!/usr/bin/env python3
"""Hard-delete purge at scale.

Fills an email connector with N documents through Inlet's own SMTP receiver,
then hard-deletes it and measures: the time until GET answers 404, against a
baseline of `rm -rf` of a copy of the same blob files plus one SQL DELETE of
the same rows; the p99 latency of GET /connectors/{id} (another connector)
during the purge against idle; and Inlet's peak RSS.

Usage: python3 bench/purge.py [--documents 100000] [--senders 16]
Needs only Python's standard library and a release build (built here).
"""
import argparse, os, shutil, smtplib, sqlite3, threading, time
from common import Inlet, build, http


def p99(samples):
    samples = sorted(samples)
    return samples[int(len(samples) * 0.99) - 1] * 1000 if samples else float("nan")


def latencies(url, key, stop, out):
    while not stop.is_set():
        t = time.perf_counter()
        http("GET", url, key)
        out.append(time.perf_counter() - t)
        time.sleep(0.005)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--documents", type=int, default=100_000)
    ap.add_argument("--senders", type=int, default=16)
    args = ap.parse_args()

    build()
    with Inlet(18980, 18925, "[smtp]\nmax_sessions = 200\n") as inlet:
        base = f"{inlet.http}/contents/v1"
        key, data = inlet.key, inlet.data
        target_c, other_c = inlet.email_connector("bench"), inlet.email_connector("other")
        inbox = target_c["config"]["email"]

        print(f"delivering {args.documents} messages over {args.senders} SMTP sessions...", flush=True)
        t0 = time.perf_counter()
        per = args.documents // args.senders

        def send(n):
            s = smtplib.SMTP("127.0.0.1", inlet.smtp_port)
            s.ehlo("bench")
            for i in range(per):
                msg = (f"From: desk@broker.example\r\nTo: {inbox}\r\nSubject: note {n}-{i}\r\n"
                       f"Message-ID: <{n}-{i}@bench>\r\n\r\n" + "research " * 100 + "\r\n")
                s.sendmail("desk@broker.example", [inbox], msg)
            s.quit()

        threads = [threading.Thread(target=send, args=(n,)) for n in range(args.senders)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        ingest_s = time.perf_counter() - t0
        total = per * args.senders
        # Let the attachment jobs (one per message) drain.
        while b'inlet_job_queue_depth{state="queued"} 0' not in http("GET", f"{inlet.http}/metrics")[1]:
            time.sleep(0.5)
        print(f"ingested {total} in {ingest_s:.1f} s ({total / ingest_s:.0f} messages/s)", flush=True)

        other_url = f"{base}/connectors/{other_c['connector_id']}"
        idle = []
        for _ in range(500):
            t = time.perf_counter()
            http("GET", other_url, key)
            idle.append(time.perf_counter() - t)

        # Baseline: the same files and rows, removed the crude way.
        baseline = os.path.join(inlet.work, "baseline")
        shutil.copytree(data, baseline)

        target_url = f"{base}/connectors/{target_c['connector_id']}"
        during, stop = [], threading.Event()
        sampler = threading.Thread(target=latencies, args=(other_url, key, stop, during))
        sampler.start()
        t0 = time.perf_counter()
        status, _ = http("DELETE", target_url + "?force_delete=true", key)
        assert status == 200, status
        while http("GET", target_url, key)[0] != 404:
            time.sleep(0.05)
        purge_s = time.perf_counter() - t0
        stop.set()
        sampler.join()

        # Inlet's blobs were fsync'd when stored; let the copies reach the
        # disk too, or rm -rf races their writeback (3 s to 13 s, seen).
        os.sync()
        t0 = time.perf_counter()
        shutil.rmtree(os.path.join(baseline, "blobs"))
        db = sqlite3.connect(os.path.join(baseline, "inlet.db"))
        db.execute("DELETE FROM documents WHERE connector_id = ?", (target_c["connector_id"],))
        db.commit()
        db.close()
        baseline_s = time.perf_counter() - t0
        rss = inlet.peak_rss_mb()

        print()
        print("| measure | value |")
        print("| --- | --- |")
        print(f"| documents | {total} |")
        print(f"| SMTP ingestion | {ingest_s:.1f} s ({total / ingest_s:.0f} msg/s) |")
        print(f"| purge until GET is 404 | {purge_s:.2f} s |")
        print(f"| baseline: rm -rf blobs + one SQL DELETE | {baseline_s:.2f} s |")
        print(f"| purge / baseline | {purge_s / baseline_s:.2f} |")
        print(f"| GET p99 idle | {p99(idle):.2f} ms |")
        print(f"| GET p99 during purge | {p99(during):.2f} ms ({len(during)} samples) |")
        print(f"| p99 during / idle | {p99(during) / p99(idle):.2f} |")
        print(f"| peak RSS | {rss:.0f} MB |")


if __name__ == "__main__":
    main()
