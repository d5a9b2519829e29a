"""PDF text extraction against poppler's pdftotext: pages per second, peak
RSS and word-level agreement (F1 of the word multisets; and of adjacent
word pairs, which a wrong reading order of two columns loses).

Makes its corpus with reportlab: research-like notes with headings,
paragraphs, tables, and half of them set in two columns. Each file is
extracted the way the server does it, by `inlet extract` (the child process
every extraction runs in, sent one framed request; a process per file, its
start counted, as pdftotext's is), and by `pdftotext`; times and peak RSS come from
GNU time. Needs Debian's poppler-utils and reportlab
(python3-reportlab, or `pip install reportlab`); run with a Python that
has reportlab, e.g. `/usr/bin/python3 bench/extract.py`."""
import argparse, collections, json, os, random, re, statistics, struct, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

WORDS = ("revenue margin guidance outlook quarter growth earnings dividend valuation multiple "
         "balance sheet cash flow leverage capital expenditure demand supply pricing inventory "
         "consensus estimate upgrade downgrade target price rating overweight underweight neutral "
         "inflation rates yield curve spread credit equity bond duration liquidity volatility "
         "semiconductor software retail energy utilities banks insurance industrials materials").split()
TICKERS = ["$AAPL", "NASDAQ: MSFT", "AMZN US Equity", "(GOOGL.O)", "$NVDA", "NYSE: JPM"]


def sentence(rng):
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 18))]
    words[0] = words[0].capitalize()
    if rng.random() < 0.3:
        words.insert(rng.randint(1, len(words)), rng.choice(TICKERS))
    if rng.random() < 0.3:
        words.insert(rng.randint(1, len(words)), f"{rng.randint(1, 40)}.{rng.randint(0, 9)}%")
    if rng.random() < 0.2:
        words.insert(rng.randint(1, len(words)), f"${rng.randint(1, 99)}.{rng.randint(1, 9)}bn")
    return " ".join(words) + "."


def make_pdf(path, rng, pages, two_columns):
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import (BaseDocTemplate, Frame, PageBreak, PageTemplate, Paragraph,
                                    Spacer, Table, TableStyle)
    styles = getSampleStyleSheet()
    w, h = A4
    margin = 50
    if two_columns:
        gap = 18
        col = (w - 2 * margin - gap) / 2
        frames = [Frame(margin, margin, col, h - 2 * margin, id="left"),
                  Frame(margin + col + gap, margin, col, h - 2 * margin, id="right")]
    else:
        frames = [Frame(margin, margin, w - 2 * margin, h - 2 * margin, id="body")]
    doc = BaseDocTemplate(path, pagesize=A4, pageTemplates=[PageTemplate(frames=frames)],
                          title="Sector note")
    story = []
    for p in range(pages):
        story.append(Paragraph(f"Section {p + 1}: {rng.choice(WORDS).capitalize()} review", styles["Heading1"]))
        for _ in range(3):
            story.append(Paragraph(" ".join(sentence(rng) for _ in range(5)), styles["BodyText"]))
            story.append(Spacer(1, 6))
        rows = [["Ticker", "Price", "Target", "Rating"]]
        for _ in range(4):
            rows.append([rng.choice(["AAPL", "MSFT", "AMZN", "NVDA", "JPM"]), f"{rng.randint(50, 900)}.{rng.randint(10, 99)}",
                         f"{rng.randint(50, 900)}", rng.choice(["Buy", "Hold", "Sell"])])
        t = Table(rows)
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey)]))
        story.append(t)
        story.append(Paragraph(" ".join(sentence(rng) for _ in range(4)), styles["BodyText"]))
        story.append(PageBreak())
    doc.build(story)


def run(cmd, stdin_path):
    """(stdout bytes, wall seconds, peak RSS MB) of one process. The peak
    comes from GNU time: wait4's ru_maxrss would count the forked Python
    before the exec."""
    with open(stdin_path, "rb") as f, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], stdin=f, stdout=subprocess.PIPE, stderr=err)
        wall = time.perf_counter() - start
        err.seek(0)
        lines = err.read().decode().strip().splitlines()
    if p.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {p.returncode} {lines[-3:]}")
    return p.stdout, wall, int(lines[-1]) / 1024


def framed(path, content_type="application/pdf"):
    """`inlet extract`'s input for one file: the content type, the bytes in
    frames of at most 1 MiB, then an empty frame (src/extract/isolate.rs)."""
    data = open(path, "rb").read()
    out = struct.pack("<I", len(content_type)) + content_type.encode()
    for at in range(0, len(data), 1 << 20):
        chunk = data[at:at + (1 << 20)]
        out += struct.pack("<I", len(chunk)) + chunk
    return out + struct.pack("<I", 0)


def answer(out):
    """The one reply of `inlet extract`: a u64 length, then JSON."""
    (n,) = struct.unpack("<Q", out[:8])
    if len(out) != 8 + n:
        raise SystemExit(f"a malformed reply of {len(out)} bytes")
    return json.loads(out[8:])


def words(text):
    return collections.Counter(re.findall(r"\w+", text.lower()))


def bigrams(text):
    """Adjacent word pairs: a reading order that interleaves two columns
    keeps every word but loses these."""
    w = re.findall(r"\w+", text.lower())
    return collections.Counter(zip(w, w[1:]))


def f1(ours, anchor, count=words):
    a, b = count(ours), count(anchor)
    common_n = sum((a & b).values())
    if not a or not b:
        return 0.0
    p, r = common_n / sum(a.values()), common_n / sum(b.values())
    return 2 * p * r / (p + r) if p + r else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=24)
    ap.add_argument("--pages", type=int, default=20, help="pages of each document (at least)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--binary", help="an inlet binary to use instead of a release build")
    args = ap.parse_args()
    common.apt_install("poppler-utils", commands=["pdftotext"])
    common.apt_install("time", commands=["/usr/bin/time"])
    inlet = args.binary or os.path.join(common.build(), "inlet")
    rng = random.Random(16)
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i in range(args.docs):
            path = os.path.join(tmp, f"note-{i}.pdf")
            make_pdf(path, rng, args.pages, two_columns=i % 2 == 1)
            files.append(path)
        pages = 0
        for path in files:
            info = subprocess.run(["pdfinfo", path], capture_output=True, text=True).stdout
            pages += int(re.search(r"Pages:\s+(\d+)", info).group(1))
        requests = {}
        for path in files:
            requests[path] = path + ".request"
            with open(requests[path], "wb") as f:
                f.write(framed(path))
        ours_cmd = [inlet, "extract",
                    "--max-text-bytes", str(10 << 20), "--max-unpacked-bytes", str(256 << 20),
                    "--max-entries", "10000", "--max-memory-bytes", str(1 << 30), "--cpu-seconds", "61"]
        anchor_cmd = ["pdftotext", "-", "-"]
        times = {"inlet": [], "pdftotext": []}
        rss = {"inlet": 0.0, "pdftotext": 0.0}
        scores, order_scores = [], []
        for run_i in range(args.runs):
            total = {"inlet": 0.0, "pdftotext": 0.0}
            for path in files:
                out, t, m = run(ours_cmd, requests[path])
                total["inlet"] += t
                rss["inlet"] = max(rss["inlet"], m)
                reply = answer(out)
                if reply["outcome"] != "done":
                    raise SystemExit(f"{path}: {reply}")
                ours = "\n\n".join(b["text"] for b in reply["extracted"]["body"])
                anchor, t, m = run(anchor_cmd, path)
                total["pdftotext"] += t
                rss["pdftotext"] = max(rss["pdftotext"], m)
                if run_i == 0:
                    anchor = anchor.decode("utf-8", "replace")
                    scores.append(f1(ours, anchor))
                    order_scores.append(f1(ours, anchor, bigrams))
            for k in total:
                times[k].append(total[k])
        speed = {k: pages / statistics.median(v) for k, v in times.items()}
        print(f"corpus: {args.docs} PDFs, {pages} pages (half in two columns), runs: {args.runs}\n")
        print("| extractor | pages/s (median) | peak RSS MB | word F1 vs pdftotext (mean / min) "
              "| word-pair F1 (mean / min) |")
        print("| --- | --- | --- | --- | --- |")
        print(f"| inlet extract (pdf-extract) | {speed['inlet']:.1f} | {rss['inlet']:.1f} | "
              f"{statistics.mean(scores):.4f} / {min(scores):.4f} | "
              f"{statistics.mean(order_scores):.4f} / {min(order_scores):.4f} |")
        print(f"| pdftotext (poppler) | {speed['pdftotext']:.1f} | {rss['pdftotext']:.1f} | 1 | 1 |")
        print(f"\nspeed ratio inlet/pdftotext: {speed['inlet'] / speed['pdftotext']:.2f}")


if __name__ == "__main__":
    main()
