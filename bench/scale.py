#!/usr/bin/env python3
"""Document lists at scale (issue: lists that do not care about size):
p50/p99 of GET /documents at 10,000, 100,000 and 1,000,000 documents, and
the plan the database makes for each list.

The documents belong to 30 users in 3 orgs (10 users each), each user with a
shared and a private e-mail connector; they are inserted by
`examples/bulk_documents.rs` through the store's own `insert_document`
(tags and search entry included), deterministically (see that file). The
lists are those of one user, who sees their own documents and those their
org's nine other users share: default sort, a connector filter, a tag, an
origin, a `file_name` substring, `page=200`, and a search (`q=lithium`, a
word of about 5% of the file names). Each is timed by wrk at 4 connections,
after one request on its own ("first"): `page=200` asked again starts from
the row before it that the first request remembered (keyset pagination),
so its first request is the walk of its depth and the rest are seeks.
Answers are not kept (`[http] kept_answers_bytes = 0`): every request is a
query.

Usage: python3 bench/scale.py [--seconds 5] [--sizes 10000,100000,1000000]
       [--postgres postgres://postgres@127.0.0.1:5432/postgres]
Needs wrk (a Debian package; installed when missing).
"""
import argparse, json, os, shutil, subprocess, tempfile, time, uuid
from common import Inlet, apt_install, build, http, wrk_output, wrk_percentile, wrk_rate

INLET_HTTP, INLET_SMTP = 18988, 18928
CONNECTIONS = 4
ORGS, USERS_PER_ORG = 3, 10
LOAD_CONCURRENCY = 64

LISTS = {
    "default": "",
    "connector": "connector_id={shared}",
    "tags": "tags=macro",
    "origin": "origin=file_upload",
    "file_name": "file_name=lithium",
    "page_200": "page=200",
    "search": "q=lithium",
}


def postgres_database(admin_url):
    """A fresh database beside `admin_url`'s; returns its URL and a dropper."""
    name = f"inlet_scale_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {name}"], check=True)
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    return url, lambda: subprocess.run(["psql", admin_url, "-qc", f"DROP DATABASE {name} WITH (FORCE)"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--postgres", help="run on a fresh database of this PostgreSQL server")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    apt_install("wrk", commands=["wrk"])
    release = build("--example", "bulk_documents")
    loader = os.path.join(release, "examples", "bulk_documents")
    work = tempfile.mkdtemp(prefix="inlet-scale-bench-")
    database, drop = None, lambda: None
    if args.postgres:
        database, drop = postgres_database(args.postgres)
    try:
        # Every request reads the database: a kept answer would time memory.
        extra = "[jobs]\nworkers = 0\n[http]\nkept_answers_bytes = 0\n"
        with Inlet(INLET_HTTP, INLET_SMTP, extra, database_url=database) as inlet:
            db = database or f"sqlite://{os.path.join(inlet.data, 'inlet.db')}"
            users = []
            for o in range(ORGS):
                for u in range(USERS_PER_ORG):
                    user, org = f"analyst-{o}-{u}", f"fund-{o}"
                    key = inlet.admin("create-key", "--org", org, "--user", user).strip()
                    connectors = [inlet.email_connector(f"{user} {kind}", key=key, shared=(kind == "shared"))
                                  ["connector_id"] for kind in ("shared", "private")]
                    users.append({"user_id": user, "org_id": org, "connectors": connectors, "key": key})
            manifest = os.path.join(work, "manifest.json")
            with open(manifest, "w") as f:
                json.dump({"users": users}, f)
            viewer = users[0]
            rows, plans, held = [], {}, 0
            for size in sizes:
                took = float(subprocess.run([loader, "load", db, manifest, str(held), str(size - held),
                                             str(LOAD_CONCURRENCY)],
                                            capture_output=True, text=True, check=True).stdout)
                print(f"{size:,} documents: loaded {size - held:,} in {took:.1f} s "
                      f"({(size - held) / took:,.0f}/s)", flush=True)
                held = size
                if database:
                    # As autovacuum would soon after such a load: plans from current statistics.
                    subprocess.run(["psql", database, "-qc", "ANALYZE"], check=True)
                plans[size] = json.loads(subprocess.run([loader, "explain", db, manifest],
                                                        capture_output=True, text=True, check=True).stdout)
                for name, query in LISTS.items():
                    query = query.format(shared=viewer["connectors"][0])
                    url = f"{inlet.http}/contents/v1/documents?page_size=50" + (f"&{query}" if query else "")
                    started = time.perf_counter()
                    status, body = http("GET", url, viewer["key"])
                    first = (time.perf_counter() - started) * 1000
                    assert status == 200, (status, body)
                    hits = len(json.loads(body)["results"])
                    out = wrk_output(url, args.seconds, viewer["key"], work=work, connections=CONNECTIONS)
                    rps = wrk_rate(out)
                    rows.append((size, name, hits, rps, wrk_percentile(out, 50), wrk_percentile(out, 99)))
                    print(f"  {name}: {hits} results, first {first:.2f} ms, then {rps:.0f} req/s, "
                          f"p50 {rows[-1][4]:.2f} ms, p99 {rows[-1][5]:.2f} ms", flush=True)
            rss = inlet.peak_rss_mb()
        backend = "PostgreSQL" if args.postgres else "SQLite"
        print(f"\n{backend}; {CONNECTIONS} connections, {args.seconds} s per list; one user of 30, "
              f"who sees their own documents and their org's shared ones\n")
        print("| list | " + " | ".join(f"{s:,}: p50 / p99 ms" for s in sizes)
              + f" | p99 {sizes[-1]:,} / {sizes[0]:,} |")
        print("| --- |" + " --- |" * (len(sizes) + 1))
        for name in LISTS:
            cells = {s: (p50, p99) for s, n, _, _, p50, p99 in rows if n == name}
            ratio = cells[sizes[-1]][1] / cells[sizes[0]][1]
            print(f"| {name} | " + " | ".join(f"{cells[s][0]:.2f} / {cells[s][1]:.2f}" for s in sizes)
                  + f" | {ratio:.2f} |")
        print(f"\nInlet peak RSS {rss:.0f} MB\n\nPlans at {sizes[-1]:,} documents:\n")
        for name, plan in plans[sizes[-1]].items():
            print(f"{name}:\n" + "\n".join(f"    {line}" for line in plan))
    finally:
        drop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
