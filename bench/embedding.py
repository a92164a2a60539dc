"""Raw embedding throughput, and MiniLM word pieces per tiktoken token on real English text.

    .venv/bin/python bench/embedding.py [--passages 96] [--threads 1 2] [--batch 8 32] [--ratio]

Throughput: passages of about 300 cl100k tokens from /work/shared/docs, embedded (1) through
`Embedder.embed_documents` (texts over the model window are embedded in windows, never cut) and
(2) straight through onnxruntime sessions with other options, to see what fastembed leaves behind.
The ingestion benchmark compares against these figures. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from retrievd import assets
from retrievd.config import Settings
from retrievd.embedding import Embedder, get_embedder
from retrievd.ingest.chunk import chunk_elements
from retrievd.ingest.types import Element

DOCS = Path("/work/shared/docs")


def english_texts() -> dict[str, str]:
    """Plain text of the English documents: prose, a 10-K filing, a manual, a paper."""
    import bs4
    import docx
    import pypdf

    def pdf(name: str, pages: int) -> str:
        reader = pypdf.PdfReader(DOCS / name)
        return "\n\n".join(page.extract_text() or "" for page in reader.pages[:pages])

    return {
        "war-and-peace": (DOCS / "book-war-and-peace-1p.txt").read_text(),
        "norwich-city": (DOCS / "norwich-city.txt").read_text(),
        "10-K (html)": bs4.BeautifulSoup((DOCS / "example-10k-1p.html").read_text(), "html.parser").get_text("\n"),
        "DA-619p.pdf (60 p.)": pdf("DA-619p.pdf", 60),
        "layout-parser paper": pdf("layout-parser-paper-fast.pdf", 20),
        "reliance.pdf": pdf("reliance.pdf", 20),
        "handbook-872p.docx (1500 par.)": "\n\n".join(p.text for p in docx.Document(DOCS / "handbook-872p.docx").paragraphs[:1500]),
    }


def elements(text: str) -> list[Element]:
    return [Element(p, "NarrativeText") for p in text.split("\n\n") if p.strip()]


def passages(count: int, tokens: int = 300) -> list[str]:
    texts = english_texts()
    chunks = [c.text for name in ("norwich-city", "DA-619p.pdf (60 p.)", "handbook-872p.docx (1500 par.)")
              for c in chunk_elements(elements(texts[name]), max_tokens=tokens, overlap_tokens=0)]
    chunks = [c for c in chunks if len(c) > 800]
    return (chunks * (count // len(chunks) + 1))[:count]


def ratio(embedder: Embedder) -> None:
    print("\nMiniLM word pieces per cl100k token, chunks of 256 cl100k tokens:")
    print(f"{'document':34} {'chunks':>6} {'median':>7} {'p99':>6} {'max':>6}")
    everything = []
    for name, text in english_texts().items():
        chunks = chunk_elements(elements(text), max_tokens=256, overlap_tokens=0)
        ratios = [(embedder.count_tokens(c.text) - 2) / c.token_count for c in chunks if c.token_count >= 64]
        everything += ratios
        print(f"{name:34} {len(ratios):6} {statistics.median(ratios):7.3f} {np.percentile(ratios, 99):6.3f} {max(ratios):6.3f}")
    print(f"{'all':34} {len(everything):6} {statistics.median(everything):7.3f} "
          f"{np.percentile(everything, 99):6.3f} {max(everything):6.3f}")


def throughput(embedder: Embedder, texts: list[str], label: str) -> None:
    tokens = sum(embedder.count_tokens(t) for t in texts)
    embedder.embed_documents(texts[:4])  # warm up
    _report(label, len(texts), tokens, lambda: embedder.embed_documents(texts))


def raw_sessions(model_dir: Path, max_tokens: int, texts: list[str], threads: list[int], batch: int) -> None:
    """onnxruntime directly, one window per passage (cut at the window): the model's own ceiling."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_tokens)
    tokenizer.enable_padding()
    batches = [tokenizer.encode_batch(texts[i : i + batch]) for i in range(0, len(texts), batch)]
    tokens = sum(sum(e.attention_mask) for b in batches for e in b)
    for n in threads:
        for spinning in ("1", "0"):
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.intra_op_num_threads = n
            options.inter_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
            session = ort.InferenceSession(str(model_dir / "model.onnx"), options, providers=["CPUExecutionProvider"])

            def run(session: ort.InferenceSession = session) -> None:
                for b in batches:
                    ids = np.array([e.ids for e in b], dtype=np.int64)
                    mask = np.array([e.attention_mask for e in b], dtype=np.int64)
                    session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})

            run()
            _report(f"onnxruntime intra_op={n} spinning={spinning} batch={batch}", len(texts), tokens, run)


def _report(label: str, passages: int, tokens: int, run: Callable[[], object], repeats: int = 2) -> None:
    """Best of `repeats`, in wall time and per CPU second (which other load on the machine skews less)."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    print(f"{label:46} {passages / min(wall):6.1f} passages/s {tokens / min(wall):6.0f} tokens/s "
          f"{tokens / min(cpu):6.0f} tokens/CPU-s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passages", type=int, default=96)
    parser.add_argument("--threads", type=int, nargs="+", default=[os.cpu_count() or 1])
    parser.add_argument("--batch", type=int, nargs="+", default=[32])
    parser.add_argument("--ratio", action="store_true", help="also measure word pieces per tiktoken token")
    args = parser.parse_args()

    settings = Settings()
    assets.ensure_assets(settings)
    texts = passages(args.passages)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {len(texts)} passages of ~300 cl100k tokens")
    for threads in args.threads:
        for batch in args.batch:
            embedder = get_embedder(settings.model_copy(update={"embedding_threads": threads, "embed_batch_size": batch}))
            throughput(embedder, texts, f"Embedder threads={threads} batch={batch}")
    model_dir = assets.require(settings, "all-MiniLM-L6-v2-int8")
    raw_sessions(model_dir, get_embedder(settings).max_tokens, texts, args.threads, args.batch[-1])
    if args.ratio:
        ratio(get_embedder(settings))


if __name__ == "__main__":
    main()
