"""A CMRC 2018 slice for answer benchmarks: the first paragraphs of the trial set as documents (title
and paragraph, one text file each) and each paragraph's first question with its gold span.

    python -m bench.cmrc_slice ../shared/data/cmrc2018/trial.json /tmp/cmrc-slice --questions 24
    lore ingest /tmp/cmrc-slice/docs   # LORE_DATA_DIR=/tmp/kb-cmrc
    python -m bench.answer_models --data-dir /tmp/kb-cmrc --questions /tmp/cmrc-slice/questions.jsonl ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trial", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--questions", type=int, default=24)
    args = parser.parse_args(argv)
    docs = args.out / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    rows = []
    for article in json.loads(args.trial.read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            if len(rows) >= args.questions:
                break
            name = f"{paragraph['id']}.txt"
            (docs / name).write_text(f"{article['title']}\n\n{paragraph['context']}\n", encoding="utf-8")
            qa = paragraph["qas"][0]
            rows.append({"id": qa["id"], "question": qa["question"], "answer": qa["answers"][0]["text"], "source": name})
    (args.out / "questions.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                              encoding="utf-8")
    print(f"{len(rows)} questions, {len(list(docs.iterdir()))} documents in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
