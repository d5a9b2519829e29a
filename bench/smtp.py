#!/usr/bin/env python3
"""SMTP ingestion: Inlet against Postfix and smtp-sink, in the same run.

`examples/signed_source.rs` (like Postfix's smtp-source, but every message is
distinct and DKIM-signed by broker.example) sends M messages of 100 KB over 20
concurrent sessions to:
  - Inlet, with `[smtp] sender_auth = "enforce"` (or --sender-auth), which
    verifies the signature, SPF and DMARC against a private dnsmasq serving
    broker.example's records, and answers 250 only once the message is
    fsync'd as a document; the document is then processed in the background
    (text extracted and indexed: `completed`, searchable), timed as well;
  - Postfix, configured here as a private instance on loopback that accepts
    the domain bench.example into a Maildir (its 250 means queued and
    fsync'd; it then delivers into the Maildir, fsync'd too);
  - smtp-sink, which discards everything: the protocol ceiling.
Several runs each, alternating; prints medians of messages/s and the ratios,
and Inlet's peak RSS. Every Inlet run is checked: its connector must count
exactly M documents, all `completed` once its job queue is empty. Each
receiver's background work (Postfix's delivery, Inlet's processing) finishes
before the next receiver is measured, so none slows another's figures.

Usage: python3 bench/smtp.py [--runs 3] [--messages 2000] [--sessions 20] [--size 102400]
                             [--sender-auth enforce|report|off] [--workers N]
(`--workers 0`: Inlet ingests only, its documents stay `processing`: what ingestion costs
without the background processing beside it.)
Installs postfix (for smtp-sink and Postfix itself) and dnsmasq-base when
missing; must run as root (Postfix starts as root and drops privileges).
"""
import argparse, json, os, pwd, re, shutil, subprocess, tempfile, time
from common import Inlet, apt_install, build, http, median

POSTFIX_PORT, SINK_PORT, INLET_HTTP, INLET_SMTP, DNS_PORT = 18525, 18526, 18982, 18527, 18553
SENDER = "desk@broker.example"


class SignedSource:
    """The load generator, with an RSA key published by a private dnsmasq
    (SPF that does not cover 127.0.0.1, DMARC p=reject: the signature must
    carry each message)."""

    def __init__(self, release, work):
        self.binary = os.path.join(release, "examples", "signed_source")
        self.key = os.path.join(work, "dkim.der")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                        "-outform", "DER", "-out", self.key], check=True, stderr=subprocess.DEVNULL)
        public = subprocess.run(["openssl", "pkey", "-inform", "DER", "-pubout", "-outform", "DER", "-in", self.key],
                                check=True, capture_output=True).stdout
        import base64
        record = "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()
        chunks = ",".join(f'"{record[i:i + 250]}"' for i in range(0, len(record), 250))
        conf = os.path.join(work, "dnsmasq.conf")
        with open(conf, "w") as f:
            f.write("no-resolv\nno-hosts\nlocal-ttl=300\nneg-ttl=300\nlocal=/example/\n"
                    'txt-record=broker.example,"v=spf1 ip4:192.0.2.1 -all"\n'
                    'txt-record=_dmarc.broker.example,"v=DMARC1; p=reject"\n'
                    f"txt-record=bench._domainkey.broker.example,{chunks}\n")
        self.dns = subprocess.Popen(["/usr/sbin/dnsmasq", f"--conf-file={conf}", "--keep-in-foreground",
                                     "--bind-interfaces", "--listen-address=127.0.0.1", f"--port={DNS_PORT}",
                                     "--pid-file", "--user=", "--group="],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(DNS_PORT)

    def send(self, port, recipient, args):
        out = subprocess.run([self.binary, f"127.0.0.1:{port}", str(args.messages), str(args.sessions),
                              str(args.size), SENDER, recipient, self.key, "broker.example", "bench"],
                             check=True, capture_output=True, text=True).stdout
        return float(out.strip())

    def close(self):
        self.dns.terminate()
        self.dns.wait(timeout=10)


class Postfix:
    """A Postfix instance of its own (config, queue and Maildir in a scratch
    dir), listening on loopback only; the system's Postfix is left alone."""

    def __enter__(self):
        self.work = tempfile.mkdtemp(prefix="inlet-bench-postfix-")
        conf, queue, data = (os.path.join(self.work, d) for d in ("conf", "queue", "data"))
        self.maildir = os.path.join(self.work, "mail")
        for d in (conf, queue, data, self.maildir):
            os.makedirs(d)
        os.chmod(self.work, 0o755)
        nobody = pwd.getpwnam("nobody")
        os.chown(self.maildir, nobody.pw_uid, nobody.pw_gid)
        shutil.chown(data, user="postfix")
        with open(os.path.join(conf, "main.cf"), "w") as f:
            f.write(f"""compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.example
mydestination =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtputf8_enable = no
virtual_mailbox_domains = bench.example
virtual_mailbox_base = {self.maildir}
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:{nobody.pw_uid}
virtual_gid_maps = static:{nobody.pw_gid}
maillog_file_prefixes = {self.work}
maillog_file = {self.work}/postfix.log
""")
        # The packaged master.cf, without chroot, with smtpd on our port.
        with open("/etc/postfix/master.cf") as src, open(os.path.join(conf, "master.cf"), "w") as dst:
            for line in src:
                fields = line.split()
                if line[:1] not in "# \t\n" and len(fields) >= 8:
                    fields[4] = "n"
                    if fields[:2] == ["smtp", "inet"]:
                        fields[0] = f"127.0.0.1:{POSTFIX_PORT}"
                    line = "  ".join(fields) + "\n"
                dst.write(line)
        self.conf = conf
        subprocess.run(["postfix", "-c", conf, "start"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(POSTFIX_PORT)
        return self

    def delivered(self):
        new = os.path.join(self.maildir, "inbox", "new")
        return len(os.listdir(new)) if os.path.isdir(new) else 0

    def __exit__(self, *exc):
        subprocess.run(["postfix", "-c", self.conf, "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        shutil.rmtree(self.work, ignore_errors=True)


def wait_for_port(port):
    import socket
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port}")


def job_queue(inlet):
    """Inlet's job counts by state, from its metrics."""
    text = http("GET", f"{inlet.http}/metrics")[1].decode()
    return {state: float(n) for state, n in
            re.findall(r'^inlet_job_queue_depth\{state="(\w+)"\} (\S+)$', text, re.M)}


def wait_for_processing(inlet, limit=600):
    """Until no job is queued or running: every stored message processed."""
    started = time.perf_counter()
    while True:
        queue = job_queue(inlet)
        if queue.get("dead"):
            raise SystemExit(f"Inlet has dead jobs: {queue}")
        if queue and not queue.get("queued") and not queue.get("running"):
            return
        if time.perf_counter() - started > limit:
            raise SystemExit(f"Inlet still processing after {limit} s: {queue}")
        time.sleep(0.02)


def check_completed(inlet, connector_id, expected, status="completed"):
    """The connector holds `expected` documents, every one in `status`."""
    statuses, page = {}, 1
    while True:
        body = json.loads(http("GET", f"{inlet.http}/contents/v1/documents?connector_id={connector_id}"
                                      f"&page_size=100&page={page}", inlet.key)[1])
        for doc in body["results"]:
            statuses[doc["status"]] = statuses.get(doc["status"], 0) + 1
        if not body["has_more"]:
            break
        page += 1
    if statuses != {status: expected}:
        raise SystemExit(f"Inlet's connector holds {statuses}, expected {expected} {status}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--size", type=int, default=102400)
    ap.add_argument("--sender-auth", default="enforce", choices=["enforce", "report", "off"])
    ap.add_argument("--workers", type=int, help="Inlet's [jobs] workers (0: ingestion alone, "
                    "nothing processed, so no `completed` figure)")
    args = ap.parse_args()
    # Keep the package from configuring the system's own mail service.
    subprocess.run(["debconf-set-selections"], input=b"postfix postfix/main_mailer_type select No configuration\n", check=True)
    apt_install("postfix", commands=["smtp-sink", "postfix"])
    apt_install("dnsmasq-base", commands=["/usr/sbin/dnsmasq"])
    release = build("--example", "signed_source")

    work = tempfile.mkdtemp(prefix="inlet-bench-smtp-")
    source = SignedSource(release, work)
    sink = subprocess.Popen(["smtp-sink", "-u", "nobody", f"127.0.0.1:{SINK_PORT}", "256"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = {"smtp-sink (ceiling)": [], "Postfix: 250 (queued)": [], "Postfix: in the Maildir": [], "Inlet: 250 (stored)": [], "Inlet: completed": []}
    smtp = (f'[smtp]\nmax_sessions = 200\nmax_sessions_per_ip = 200\nsender_auth = "{args.sender_auth}"\n'
            f'dns_servers = ["127.0.0.1:{DNS_PORT}"]\n')
    if args.workers is not None:
        smtp += f"[jobs]\nworkers = {args.workers}\n"
    processed = args.workers != 0
    try:
        wait_for_port(SINK_PORT)
        with Postfix() as postfix, Inlet(INLET_HTTP, INLET_SMTP, smtp) as inlet:
            for run in range(args.runs):
                seconds["smtp-sink (ceiling)"].append(source.send(SINK_PORT, "inbox@bench.example", args))

                # The Maildir is kept between runs, as Inlet keeps its documents:
                # deleting thousands of files slows the next file creations.
                expected = postfix.delivered() + args.messages
                sent = source.send(POSTFIX_PORT, "inbox@bench.example", args)
                t_end = time.perf_counter()  # the sending started `sent` s before
                while postfix.delivered() < expected:
                    if time.perf_counter() - t_end > 600:
                        raise SystemExit(f"Postfix delivered {postfix.delivered()} of {expected}")
                    time.sleep(0.01)
                seconds["Postfix: 250 (queued)"].append(sent)
                seconds["Postfix: in the Maildir"].append(sent + time.perf_counter() - t_end)

                connector = inlet.email_connector(f"smtp run {run}", [SENDER])
                sent = source.send(INLET_SMTP, connector["config"]["email"], args)
                t_end = time.perf_counter()
                seconds["Inlet: 250 (stored)"].append(sent)
                if processed:
                    wait_for_processing(inlet)
                    seconds["Inlet: completed"].append(sent + time.perf_counter() - t_end)
                check_completed(inlet, connector["connector_id"], args.messages,
                                "completed" if processed else "processing")
                print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in seconds.items() if v), flush=True)
            rss = inlet.peak_rss_mb()
    finally:
        sink.terminate()
        sink.wait(timeout=10)
        source.close()
        shutil.rmtree(work, ignore_errors=True)

    rate = {name: args.messages / median(s) for name, s in seconds.items() if s}
    completed = rate.get("Inlet: completed")
    print(f"\n{args.messages} DKIM-signed messages of {args.size} bytes over {args.sessions} sessions; "
          f"Inlet with sender_auth = {args.sender_auth}"
          f"{'' if processed else ', nothing processed ([jobs] workers = 0)'}; {args.runs} runs, medians\n")
    print("| receiver | messages/s | MB/s | Inlet 250 / this | Inlet completed / this |")
    print("| --- | --- | --- | --- | --- |")
    for name, r in rate.items():
        print(f"| {name} | {r:.0f} | {r * args.size / 1e6:.1f} | {rate['Inlet: 250 (stored)'] / r:.2f} "
              f"| {f'{completed / r:.2f}' if completed else '—'} |")
    print(f"\nInlet peak RSS: {rss:.0f} MB")


if __name__ == "__main__":
    main()
