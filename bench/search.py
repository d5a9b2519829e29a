#!/usr/bin/env python3
"""Full-text search (contract 11): GET /documents?q= at 16 connections
against the same FTS query run directly on the same database file, plus
indexing throughput, at 10,000 and at 100,000 documents.

The corpus is generated reproducibly (seeded): research-like notes of about
2 KB each over a Zipf-distributed vocabulary, with a rare word in one
document of 10,000, "lithium prices" in 1%, words starting with "lith" in
about 3%, and "market" in about 90%. Documents belong to two connectors of
one user. They are stored and indexed through the store, as processing does
(examples/search_index.rs: one `record_processing` transaction per
document, 16 at a time), which is the indexing throughput measured.

Answers are not kept (`[http] kept_answers_bytes = 0`): each request runs
the search, as a stream of different queries would.

Query classes: rare word, common word, phrase, prefix, and the common word
with a connector filter; a page of 50 (the store asks for 51). The ceiling
is the same SQL, with the same LIMIT, run on the same database file by
examples/search_direct.rs (the server's SQLite library and its ranking
function, which the sqlite3 CLI does not have) from as many threads as
there are cores.

With --database-url postgres://…/DB, Inlet runs on PostgreSQL instead: the
database DB is dropped and created afresh, the corpus indexed into it the
same way, and the API measured the same way. There is no direct ceiling
there yet (the server's statement for PostgreSQL is not mirrored here), so
only the API's figures and indexing are reported.

Usage: python3 bench/search.py [--seconds 10] [--sizes 10000,100000] [--database-url URL]
Needs wrk (a Debian package; installed here when missing).
"""
import argparse, itertools, json, os, random, shutil, subprocess, tempfile, urllib.parse
from common import Inlet, apt_install, build, http, wrk

INLET_HTTP, INLET_SMTP = 18987, 18927
CONNECTIONS = 16
SEED = 20261201

FINANCE = ("revenue margin guidance earnings growth demand supply outlook capacity pricing "
           "inventory volume quarter consensus estimate downgrade upgrade target valuation "
           "multiple cash flow dividend buyback leverage spread yield curve inflation rates "
           "central bank policy currency exports imports copper nickel cobalt battery energy "
           "utilities semiconductors software retail consumer credit default risk premium "
           "equity bond commodity freight shipping mining refinery production forecast").split()
LITH = ["lithium", "lithography", "lithuania", "lithic"]
RARE = "zyxolite"
# How many matches the server ranks (`RANKED_MATCHES` in src/store/sql/documents.rs).
RANKED_MATCHES = 2000


def vocabulary(rng, n=20000):
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pra", "dor", "ven", "tul", "gri", "mos"]
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return FINANCE + sorted(words)


def note(rng, vocab, cum_weights, i):
    words = []
    while sum(len(w) + 1 for w in words) < 2000:
        words.extend(rng.choices(vocab, cum_weights=cum_weights, k=12))
        words.append(".")
    if rng.random() < 0.9:
        words.insert(rng.randrange(len(words)), "market")
    if rng.random() < 0.01:
        words[rng.randrange(len(words)):0] = ["lithium", "prices"]
    if rng.random() < 0.03:
        words.insert(rng.randrange(len(words)), rng.choice(LITH))
    if i % 10000 == 7:
        words.insert(rng.randrange(len(words)), RARE)
    return " ".join(words).replace(" .", ".")


def corpus(path, start, count, connectors):
    """Documents start..start+count of the one reproducible corpus."""
    rng = random.Random(SEED)
    vocab = vocabulary(rng)
    cum_weights = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(vocab))))
    with open(path, "w") as f:
        for i in range(start, start + count):
            doc_rng = random.Random(SEED * 1_000_003 + i)
            f.write(json.dumps({
                "file_name": f"note-{i:06d}.txt", "text": note(doc_rng, vocab, cum_weights, i),
                "user_id": "admin", "org_id": "default", "connector_id": connectors[i % 2],
            }) + "\n")


def fts5(q):
    """The FTS5 expression the server compiles this query to, and its phrases."""
    # The index holds stems, as the server compiles them ("zyxolite" -> "zyxolit").
    phrase = {"rare": '"zyxolit"', "common": '"market"', "phrase": '"lithium price"',
              "prefix": '"lith"*', "connector": '"market"'}[q]
    return f"(({phrase}))", [phrase]


def direct(release, db, cls, connector, seconds, work):
    """Queries per second of the server's SQL for this class, run straight
    on the database from one thread per core for about `seconds`."""
    # The server's statement: the visible matches within the org's range of
    # keys, most recently indexed first, up to the ranked window; ranked,
    # each phrase weighed among the org's newest 5,000 keys (table w); the
    # page's rows read last.
    expression, phrases = fts5(cls)
    holding = "".join(f", (SELECT count(*) FROM search_fts f WHERE f.search_fts MATCH '{p}' "
                      f"AND f.rowid BETWEEN keys.lo AND keys.hi) AS holding_{i}" for i, p in enumerate(phrases))
    sql = ("SELECT d.document_id, d.user_id, d.org_id, d.connector_id, d.rp_collection_id, d.file_name, "
           "d.raw_size, d.content_type, d.request_origin, d.status, d.error_code, d.share_with_org, "
           "d.published_at, d.created_at, d.updated_at, d.file_metadata, d.sha256, d.blob_key FROM ("
           "SELECT * FROM (SELECT s.document_id, inlet_rank(search_fts, s.search_length, w.entries"
           + "".join(f", w.holding_{i}" for i in range(len(phrases)))
           + ") AS relevance FROM search_fts_orgs o "
           "CROSS JOIN search_fts CROSS JOIN search_documents s ON s.search_key = search_fts.rowid "
           "CROSS JOIN (SELECT keys.hi - keys.lo + 1 AS entries" + holding
           + " FROM (SELECT max(o.search_org_first, n.search_key - 4999) AS lo, n.search_key AS hi "
           "FROM search_fts_orgs o CROSS JOIN search_documents n WHERE o.org_id = 'default' "
           "AND n.search_key BETWEEN o.search_org_first AND o.search_org_last "
           "ORDER BY n.search_key DESC LIMIT 1) AS keys LIMIT 1) AS w "
           "WHERE +s.user_id = 'admin'"
           + (f" AND s.connector_id = '{connector}'" if cls == "connector" else "")
           + f" AND o.org_id = 'default' AND search_fts MATCH '{expression}'"
           " AND search_fts.rowid BETWEEN o.search_org_first AND o.search_org_last"
           f" ORDER BY search_fts.rowid DESC LIMIT {RANKED_MATCHES}) AS visible "
           "ORDER BY relevance DESC, document_id DESC LIMIT 51) AS page CROSS JOIN documents d "
           "ON d.document_id = page.document_id ORDER BY page.relevance DESC, page.document_id DESC")
    path = os.path.join(work, "direct.sql")
    with open(path, "w") as f:
        f.write(sql)
    out = subprocess.run([os.path.join(release, "examples", "search_direct"), db, path,
                          str(os.cpu_count() or 1), str(seconds)],
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip())


def fresh_database(url):
    """Drops and creates the PostgreSQL database `url` names."""
    parsed = urllib.parse.urlparse(url)
    name = parsed.path.lstrip("/")
    assert parsed.scheme.startswith("postgres") and name, url
    admin = parsed._replace(path="/postgres").geturl()
    for sql in (f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", admin, "-q", "-c", sql], check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--database-url", help="postgres://…/DB: run on PostgreSQL (DB is recreated)")
    args = ap.parse_args()
    if args.database_url:
        fresh_database(args.database_url)
    sizes = [int(s) for s in args.sizes.split(",")]
    apt_install("wrk", commands=["wrk"])
    release = build("--example", "search_index", "--example", "search_direct")
    work = tempfile.mkdtemp(prefix="inlet-search-bench-")
    try:
        # Every request runs the search: a kept answer (`[http]
        # kept_answers_bytes`) would serve the one repeated query from memory.
        extra = "[jobs]\nworkers = 0\n[http]\nkept_answers_bytes = 0\n"
        with Inlet(INLET_HTTP, INLET_SMTP, extra, args.database_url) as inlet:
            key, db = inlet.key, os.path.join(inlet.data, "inlet.db")
            store_url = args.database_url or f"sqlite://{db}"
            connectors = [inlet.email_connector(f"desk {i}")["connector_id"] for i in range(2)]
            rows, held = [], 0
            for size in sizes:
                path = os.path.join(work, "corpus.jsonl")
                corpus(path, held, size - held, connectors)
                out = subprocess.run([os.path.join(release, "examples", "search_index"),
                                      store_url, path, str(CONNECTIONS)],
                                     capture_output=True, text=True, check=True).stdout
                indexing = (size - held) / float(out.strip())
                if args.database_url:
                    # What autovacuum would do soon after such a load: without
                    # statistics the planner takes a common word for a rare
                    # one and ranks every match (3 to 12 requests/s at 100,000).
                    subprocess.run(["psql", args.database_url, "-q", "-c", "ANALYZE"], check=True)
                held = size
                base = f"{inlet.http}/contents/v1/documents"
                queries = {"rare": RARE, "common": "market", "phrase": '"lithium prices"',
                           "prefix": "lith*", "connector": "market"}
                for cls, q in queries.items():
                    url = f"{base}?q={urllib.parse.quote(q)}"
                    if cls == "connector":
                        url += f"&connector_id={connectors[0]}"
                    status, body = http("GET", url, key)
                    assert status == 200, (status, body)
                    hits = len(json.loads(body)["results"])
                    rps, p99 = wrk(url, args.seconds, key, work=work, connections=CONNECTIONS)
                    ceiling = None if args.database_url else direct(release, db, cls, connectors[0], args.seconds, work)
                    rows.append((size, cls, hits, rps, p99, ceiling, indexing))
            rss = inlet.peak_rss_mb()
        print(f"\n{CONNECTIONS} connections, {args.seconds} s per class; ceiling: search_direct, "
              f"{os.cpu_count()} threads, same SQL and LIMIT\n")
        print("| documents | query | results on page 1 | API req/s | API p99 ms | direct req/s | API / direct | indexing docs/s |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for size, cls, hits, rps, p99, ceiling, indexing in rows:
            direct_rate, ratio = ("—", "—") if ceiling is None else (f"{ceiling:.0f}", f"{rps / ceiling:.2f}")
            print(f"| {size:,} | {cls} | {hits} | {rps:.0f} | {p99:.1f} | {direct_rate} | {ratio} | {indexing:.0f} |")
        print(f"\nInlet peak RSS: {rss:.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
