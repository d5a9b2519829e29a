"""What every benchmark needs: a release build, an Inlet server in a scratch
data dir, HTTP calls, Debian packages, medians and peak RSS."""
import json, os, re, shutil, statistics, subprocess, tempfile, time, urllib.error, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def http(method, url, key=None, body=None):
    """(status, body bytes); HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    if key:
        req.add_header("X-API-KEY", key)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wrk(url, seconds, key=None, post=None, work=None, connections=64):
    """(requests/s, p99 ms) of wrk against `url` (a POST of `post` when given);
    any error response stops the benchmark."""
    out = wrk_output(url, seconds, key, post, work, connections)
    return wrk_rate(out), wrk_percentile(out, 99)


def wrk_output(url, seconds, key=None, post=None, work=None, connections=64):
    """wrk's report of a run with `--latency`; any error response stops the benchmark."""
    script = os.path.join(work, "wrk.lua")
    with open(script, "w") as f:
        if key:
            f.write(f'wrk.headers["X-API-KEY"] = "{key}"\n')
        if post:
            f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
            f.write(f"wrk.body = [[{json.dumps(post)}]]\n")
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script, url],
                         capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"{url}: {errors.group(1)} error responses\n{out}")
    return out


def wrk_rate(out):
    """Requests per second of wrk's report."""
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def wrk_percentile(out, p):
    """The p-th percentile latency, in ms, of wrk's `--latency` report."""
    m = re.search(rf"\b{p}%\s+([\d.]+)(us|ms|s)", out)
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


def apt_install(*packages, commands=()):
    """Installs Debian packages unless every command in `commands` exists."""
    if commands and all(shutil.which(c) for c in commands):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-q", *packages], check=True, env=env, stdout=subprocess.DEVNULL)


def build(*args):
    """A release build of the inlet binary (and whatever `args` add)."""
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "inlet", *args], cwd=ROOT, check=True)
    return os.path.join(TARGET, "release")


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def median(values):
    return statistics.median(values)


class Inlet:
    """`inlet serve` on loopback with a fresh data dir; `extra` is appended to
    its TOML config. Use as a context manager: the server stops and the data
    dir is removed on exit."""

    def __init__(self, http_port, smtp_port, extra="", database_url=None):
        self.work = tempfile.mkdtemp(prefix="inlet-bench-")
        self.data = os.path.join(self.work, "data")
        self.http = f"http://127.0.0.1:{http_port}"
        self.smtp_port = smtp_port
        self.config = os.path.join(self.work, "inlet.toml")
        with open(self.config, "w") as f:
            f.write(f'data_dir = "{self.data}"\nhttp_addr = "127.0.0.1:{http_port}"\n'
                    f'smtp_addr = "127.0.0.1:{smtp_port}"\ninbox_domain = "bench.test"\n'
                    + (f'database_url = "{database_url}"\n' if database_url else "")
                    + "[rate_limit]\nrequests_per_minute = 100000000\nburst = 100000000\n" + extra)

    def __enter__(self):
        log = open(os.path.join(self.work, "inlet.log"), "w")
        self.process = subprocess.Popen([os.path.join(TARGET, "release", "inlet"), "serve", "--config", self.config],
                                        stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, "INLET_LOG": "warn"})
        key_file = os.path.join(self.data, "initial-api-key")
        for _ in range(400):
            try:
                if os.path.exists(key_file) and http("GET", f"{self.http}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            raise SystemExit(f"inlet did not start; see {log.name}")
        self.key = open(key_file).read().strip()
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(timeout=60)
        shutil.rmtree(self.work, ignore_errors=True)

    def email_connector(self, label, allowed=("desk@broker.example",), key=None, shared=False):
        status, body = http("POST", f"{self.http}/contents/v1/connectors", key or self.key,
                            {"type": "email", "label": label, "share_with_org": shared,
                             "config": {"allowed_emails": list(allowed)}})
        assert status == 201, (status, body)
        return json.loads(body)

    def admin(self, *args):
        """`inlet admin ARGS` on this server's data; its stdout."""
        return subprocess.run([os.path.join(TARGET, "release", "inlet"), "admin", *args, "--config", self.config],
                              capture_output=True, text=True, check=True).stdout

    def peak_rss_mb(self):
        return peak_rss_mb(self.process.pid)
