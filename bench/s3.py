#!/usr/bin/env python3
"""Blobs on S3: upload throughput, 1 GiB memory, and purge, against the S3
server itself.

Runs a private s3s-fs (the SigV4-checking server the tests use, installed by
.ci/run under ~/.cache) on loopback, and Inlet (release) with
`[blobs] backend = "s3"` on it. Measures:

- upload throughput of 1 MB and 50 MB files: `PUT` of the signed upload URL
  until its `200` (Inlet has the object store's confirmation by then),
  against the ceiling of `PUT`ting the same bytes straight to the same
  bucket (SigV4-signed, `UNSIGNED-PAYLOAD`: the cheapest request S3 takes),
  at the same concurrency;
- one 1 GiB upload streamed through Inlet: Inlet's peak RSS (VmHWM);
- hard-delete purge of N documents (delivered through Inlet's SMTP receiver,
  each message one object) until `GET` answers 404, against the baseline of
  deleting the same number of objects with the server's own batch delete
  (`POST /?delete`, 1,000 keys a request).

Usage: python3 bench/s3.py [--runs 3] [--documents 100000] [--skip-purge | --only-purge]
                          [--sign-payload false|true|default] [--workers 2]
Needs only Python's standard library, a release build (built here) and s3s-fs.
"""
import argparse, datetime, hashlib, hmac, json, os, shutil, socket, subprocess, tempfile
import threading, time, urllib.parse
from http.client import HTTPConnection
from common import Inlet, build, http, median
from purge import deliver

ACCESS, SECRET, REGION = "benchkey", "bench-secret-0123456789", "us-east-1"
S3S = os.path.expanduser("~/.cache/inlet-s3s-fs-0.14.1/bin/s3s-fs")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sign(method, host, path, query="", payload_hash="UNSIGNED-PAYLOAD", extra=None):
    """SigV4 headers for one request."""
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date, **(extra or {})}
    names = sorted(headers)
    canonical = "\n".join([method, urllib.parse.quote(path), query,
                           "".join(f"{n}:{headers[n]}\n" for n in names), ";".join(names), payload_hash])
    scope = f"{day}/{REGION}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + SECRET).encode()
    for part in (day, REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={ACCESS}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={signature}")
    del headers["host"]
    return headers


class S3:
    def __init__(self, root=None):
        if not os.path.exists(S3S):
            raise SystemExit(f"{S3S} missing: run .ci/run once (it installs s3s-fs)")
        self.root = tempfile.mkdtemp(prefix="inlet-bench-s3-", dir=root)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.process = subprocess.Popen([S3S, "--host", "127.0.0.1", "--port", str(self.port),
                                         "--access-key", ACCESS, "--secret-key", SECRET, self.root],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port)).close()
                break
            except OSError:
                time.sleep(0.05)

    def bucket(self, name):
        os.makedirs(os.path.join(self.root, name), exist_ok=True)
        return name

    def blobs_config(self, bucket, sign_payload="default"):
        signing = "" if sign_payload == "default" else f"sign_payload = {sign_payload}\n"
        return (f'[blobs]\nbackend = "s3"\nbucket = "{bucket}"\nendpoint = "http://{self.host}"\n'
                f'allow_http = true\naccess_key_id = "{ACCESS}"\nsecret_access_key = "{SECRET}"\n' + signing)

    def put(self, conn, bucket, key, body):
        path = f"/{bucket}/{key}"
        conn.request("PUT", path, body=body, headers={**sign("PUT", self.host, path), "content-length": str(len(body))})
        r = conn.getresponse()
        r.read()
        assert r.status == 200, r.status

    def delete_batch(self, conn, bucket, keys):
        body = ("<Delete><Quiet>true</Quiet>" + "".join(f"<Object><Key>{k}</Key></Object>" for k in keys)
                + "</Delete>").encode()
        import base64
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        path = f"/{bucket}"
        headers = sign("POST", self.host, path, "delete=", hashlib.sha256(body).hexdigest(), {"content-md5": md5})
        conn.request("POST", path + "?delete", body=body, headers={**headers, "content-length": str(len(body))})
        r = conn.getresponse()
        r.read()
        assert r.status == 200, r.status

    def close(self):
        self.process.terminate()
        self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def parallel(n, threads, work):
    """Runs work(i) for i in range(n) on `threads` threads; seconds taken."""
    counter = iter(range(n))
    lock = threading.Lock()

    def loop():
        state = {}
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            work(i, state)

    start = time.perf_counter()
    ts = [threading.Thread(target=loop) for _ in range(threads)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    return time.perf_counter() - start


def conn_of(state, host, port):
    if "conn" not in state:
        state["conn"] = HTTPConnection(host, port, timeout=120)
    return state["conn"]


def inlet_uploads(inlet, size, count, threads):
    body = os.urandom(size)
    port = int(inlet.http.rsplit(":", 1)[1])

    def one(i, state):
        # Both requests on one kept-alive connection, as a client library
        # would: a new connection and urllib per ticket cost the client more
        # CPU than the ticket costs Inlet.
        conn = conn_of(state, "127.0.0.1", port)
        conn.request("POST", "/contents/v1/documents", body=json.dumps({"file_name": f"f{i}.bin"}),
                     headers={"x-api-key": inlet.key, "content-type": "application/json"})
        r = conn.getresponse()
        ticket = r.read()
        assert r.status == 200, r.status
        url = urllib.parse.urlparse(json.loads(ticket)["url"])
        conn.request("PUT", f"{url.path}?{url.query}", body=body, headers={"content-length": str(size)})
        r = conn.getresponse()
        r.read()
        assert r.status == 200, r.status

    return count * size / parallel(count, threads, one) / 1e6


def direct_puts(s3, bucket, size, count, threads):
    body = os.urandom(size)

    def one(i, state):
        s3.put(conn_of(state, "127.0.0.1", s3.port), bucket, f"direct/{size}/{i}", body)

    return count * size / parallel(count, threads, one) / 1e6


def gib_upload(inlet):
    """Streams 1 GiB through one upload; returns (seconds, Inlet's peak RSS MB)."""
    status, ticket = http("POST", f"{inlet.http}/contents/v1/documents", inlet.key, {"file_name": "big.bin"})
    url = urllib.parse.urlparse(json.loads(ticket)["url"])
    size, chunk = 1 << 30, os.urandom(1 << 20)
    conn = HTTPConnection("127.0.0.1", int(inlet.http.rsplit(":", 1)[1]), timeout=600)
    start = time.perf_counter()
    conn.putrequest("PUT", f"{url.path}?{url.query}")
    conn.putheader("content-length", str(size))
    conn.endheaders()
    for _ in range(size // len(chunk)):
        conn.send(chunk)
    r = conn.getresponse()
    r.read()
    assert r.status == 200, r.status
    return time.perf_counter() - start, inlet.peak_rss_mb()


def purge_run(s3, documents, run, workers):
    bucket = s3.bucket(f"purge-{run}")
    extra = (s3.blobs_config(bucket) + '[smtp]\nsender_auth = "off"\nmax_sessions_per_ip = 100\n'
             f"[jobs]\nworkers = {workers}\n")
    with Inlet(free_port(), free_port(), extra) as inlet:
        c = inlet.email_connector("purged")
        n = deliver(inlet, c["config"]["email"], documents, 16)
        path = f"{inlet.http}/contents/v1/connectors/{c['connector_id']}"
        start = time.perf_counter()
        status, _ = http("DELETE", f"{path}?force_delete=true", inlet.key)
        assert status == 200, status
        while http("GET", path, inlet.key)[0] != 404:
            time.sleep(0.05)
        purge = time.perf_counter() - start
        left = sum(len(f) for _, _, f in os.walk(os.path.join(s3.root, bucket)))
        assert left <= 1, f"{left} objects left"  # the readiness probe
    # Baseline: the same number of objects, deleted with the server's batch delete.
    base_bucket = s3.bucket(f"baseline-{run}")
    body = b"research " * 100
    parallel(n, 16, lambda i, st: s3.put(conn_of(st, "127.0.0.1", s3.port), base_bucket, f"documents/{i % 256:02X}/{i}", body))
    keys = [f"documents/{i % 256:02X}/{i}" for i in range(n)]
    conn = HTTPConnection("127.0.0.1", s3.port, timeout=600)
    start = time.perf_counter()
    for i in range(0, n, 1000):
        s3.delete_batch(conn, base_bucket, keys[i:i + 1000])
    baseline = time.perf_counter() - start
    return n, purge, baseline


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--documents", type=int, default=100_000)
    ap.add_argument("--skip-purge", action="store_true")
    # Where the S3 server keeps its objects: a tmpfs such as /dev/shm takes
    # the disk's writeback (which moved the ceiling by 2x between runs) out
    # of both sides of the upload ratio.
    ap.add_argument("--s3-root", default=None)
    ap.add_argument("--only-purge", action="store_true")
    # false: Inlet sends UNSIGNED-PAYLOAD like the ceiling; default: Inlet's
    # own default, which signs payloads over http:// (this server's URL).
    # Job workers of the purge run's Inlet: the processing of the delivered
    # messages drains before the purge starts (the purge is a job too).
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sign-payload", choices=["false", "true", "default"], default="false")
    args = ap.parse_args()
    build()
    s3 = S3(args.s3_root)
    try:
        rows = []
        for size, count, threads in [] if args.only_purge else [(1_000_000, 1000, 8), (50_000_000, 24, 2)]:
            ratios, via, direct = [], [], []
            for run in range(args.runs):
                bucket = s3.bucket(f"up-{size}-{run}")
                extra = s3.blobs_config(bucket, args.sign_payload) + "[jobs]\nworkers = 0\n"
                with Inlet(free_port(), free_port(), extra) as inlet:
                    v = inlet_uploads(inlet, size, count, threads)
                d = direct_puts(s3, bucket, size, count, threads)
                via.append(v), direct.append(d), ratios.append(v / d)
                shutil.rmtree(os.path.join(s3.root, bucket))
                print(f"run {run}: {size // 1_000_000} MB x{count} at {threads}: Inlet {v:.1f} MB/s, direct PUT {d:.1f} MB/s, {v / d:.2f}x", flush=True)
            rows.append((size, median(via), median(direct), median(ratios)))
        if not args.only_purge:
            bucket = s3.bucket("gib")
            extra = s3.blobs_config(bucket, args.sign_payload) + "[jobs]\nworkers = 0\n[documents]\nmax_upload_bytes = 2147483648\n"
            with Inlet(free_port(), free_port(), extra) as inlet:
                secs, rss = gib_upload(inlet)
            print("\n| upload | Inlet → S3 MB/s | direct PUT MB/s | ratio (median) |\n| --- | --- | --- | --- |")
            for size, v, d, r in rows:
                print(f"| {size // 1_000_000} MB | {v:.1f} | {d:.1f} | {r:.2f}x |")
            print(f"\n1 GiB upload: {secs:.1f} s ({(1 << 30) / secs / 1e6:.1f} MB/s), Inlet peak RSS {rss:.0f} MB")
        if not args.skip_purge:
            results = [purge_run(s3, args.documents, run, args.workers) for run in range(args.runs)]
            for run, (n, p, b) in enumerate(results):
                print(f"purge run {run}: {n} documents in {p:.1f} s; batch delete of {n} objects {b:.1f} s; {p / b:.2f}x")
            print(f"\n| purge | Inlet s | DeleteObjects s | ratio (median) |\n| --- | --- | --- | --- |\n"
                  f"| {results[0][0]} documents | {median([r[1] for r in results]):.1f} | "
                  f"{median([r[2] for r in results]):.1f} | {median([r[1] / r[2] for r in results]):.2f}x |")
    finally:
        s3.close()


if __name__ == "__main__":
    main()
