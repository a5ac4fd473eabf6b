"""Question sets for ``lore eval``: Lore JSONL, QMSum meeting files and SQuAD/CMRC JSON, read in place.

Every format becomes a list of ``EvalItem``: a question, its acceptable answers
(none: the right reply is the abstention sentence) and its gold evidence, which
is one of

* gold turn spans of a meeting (QMSum): a passage hits a span when its turn
  range overlaps it;
* gold documents, by the id Lore gives an ingested file (SQuAD/CMRC paragraphs)
  or by a path suffix of the source file (Lore JSONL ``source``).

A dataset also names the files to ingest before the questions are asked (none for
a Lore JSONL file evaluated against an existing knowledge base).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ConfigurationError
from core.types import Document, Passage
from evaluation import retrieval as retrieval_eval

FORMATS = ("auto", "lore", "qmsum", "squad")


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    answers: tuple[str, ...] = ()
    document_ids: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # path suffixes of gold source files, e.g. "docs/handbook.md"
    spans: tuple[tuple[int, int], ...] = ()  # inclusive turn ranges within document_ids[0]

    @property
    def answerable(self) -> bool:
        return bool(self.answers)

    @property
    def gold_count(self) -> int:
        """Gold targets a perfect ranking covers: the spans, else the gold documents."""
        return len(self.spans) if self.spans else len(self.document_ids) + len(self.sources)

    def hits(self, passage: Passage) -> set[int]:
        """Indexes of the gold targets ``passage`` covers."""
        if self.spans:
            if passage.document_id not in self.document_ids:
                return set()
            start, end = passage.metadata.get("turn_start"), passage.metadata.get("turn_end")
            if start is None or end is None:
                return set()
            return {i for i, (a, b) in enumerate(self.spans) if start <= b and end >= a}
        found = {i for i, d in enumerate(self.document_ids) if passage.document_id == d}
        source = Path(passage.source).as_posix()
        offset = len(self.document_ids)
        found |= {offset + i for i, s in enumerate(self.sources) if source == s or source.endswith("/" + s.lstrip("./"))}
        return found


@dataclass
class EvalDataset:
    name: str
    format: str
    items: list[EvalItem]
    documents: list[Path] = field(default_factory=list)  # files or folders to ingest first
    errors: list[str] = field(default_factory=list)  # lines/items skipped, each naming file, place and reason


def detect_format(path: Path) -> str:
    """lore (.jsonl), qmsum (a QMSum meeting file or a folder of them) or squad (SQuAD/CMRC JSON)."""
    if path.is_dir():
        sample = next(iter(sorted(path.glob("*.json"))), None)
        if sample is not None and "meeting_transcripts" in _read_json(sample):
            return "qmsum"
        raise ConfigurationError(f"{path}: a dataset folder must hold QMSum meeting .json files")
    if path.suffix == ".jsonl":
        return "lore"
    if path.suffix == ".json":
        payload = _read_json(path)
        if isinstance(payload, dict) and "meeting_transcripts" in payload:
            return "qmsum"
        if isinstance(payload, dict) and isinstance(payload.get("data"), list):
            return "squad"
    raise ConfigurationError(
        f"{path}: cannot tell the dataset format (expected .jsonl, a QMSum meeting file or folder, or SQuAD JSON); pass --format"
    )


def load_dataset(path: Path, fmt: str = "auto", *, work_dir: Path, limit: int | None = None,
                 documents: Sequence[Path] = ()) -> EvalDataset:
    """Read ``path`` as ``fmt``; SQuAD paragraphs are written as one text file each under ``work_dir``."""
    path = Path(path)
    if not path.exists():
        raise ConfigurationError(f"dataset {path} does not exist")
    if fmt not in FORMATS:
        raise ConfigurationError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "qmsum":
        dataset = load_qmsum(path, limit=limit)
    elif fmt == "squad":
        dataset = load_squad(path, work_dir / f"{path.stem}-paragraphs", limit=limit)
    else:
        dataset = load_lore(path, limit=limit)
    dataset.documents += [Path(d) for d in documents]
    return dataset


def load_qmsum(path: Path, *, limit: int | None = None, files: Sequence[Path] | None = None) -> EvalDataset:
    """QMSum specific queries with their gold turn spans and reference answers; the meetings are ingested.
    ``files`` picks some of the meeting files of the folder ``path`` (a split, a slice)."""
    if files is None:
        files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    queries = retrieval_eval.qmsum_queries(files)
    items = [
        EvalItem(id=f"q{i}", question=q.query, answers=(q.answer,) if q.answer else (),
                 document_ids=(q.document_id,), spans=q.spans)
        for i, q in enumerate(queries, start=1)
    ]
    items = items[:limit] if limit else items
    # Ingest only the meetings the kept questions ask about.
    wanted = {d for item in items for d in item.document_ids}
    needed = [f for f in files if Document.make_id(str(f.resolve())) in wanted]
    return EvalDataset(name=path.stem if path.is_file() else path.name, format="qmsum", items=items, documents=needed)


def load_squad(path: Path, corpus: Path, *, limit: int | None = None) -> EvalDataset:
    """SQuAD/CMRC questions; every paragraph becomes a text file (a document) whose id is the gold document."""
    queries = retrieval_eval.write_cmrc_corpus(path, corpus)
    items = [
        EvalItem(id=q.id or f"q{i}", question=q.query, answers=q.answers, document_ids=(q.document_id,))
        for i, q in enumerate(queries, start=1)
    ]
    items = items[:limit] if limit else items
    wanted = {d for item in items for d in item.document_ids}
    files = [f for f in sorted(corpus.glob("*.txt")) if Document.make_id(str(f.resolve())) in wanted]
    return EvalDataset(name=path.stem, format="squad", items=items, documents=files)


def load_lore(path: Path, *, limit: int | None = None) -> EvalDataset:
    """Lore JSONL: ``question``; ``answer`` or ``answers`` (empty or absent: unanswerable); optional ``id``,
    ``source``/``sources`` (path suffixes), ``document_ids``, and ``spans`` ([[first_turn, last_turn], ...],
    within the single gold document). A bad line is reported and skipped; the rest still run."""
    items: list[EvalItem] = []
    errors: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(_lore_item(json.loads(line), number))
        except (ValueError, TypeError) as exc:
            errors.append(f"{path}:{number}: {exc}")
        if limit and len(items) >= limit:
            break
    if not items:
        raise ConfigurationError(f"{path}: no usable questions" + (f" ({errors[0]})" if errors else ""))
    return EvalDataset(name=path.stem, format="lore", items=items, errors=errors)


def _lore_item(row: object, number: int) -> EvalItem:
    if not isinstance(row, dict):
        raise ValueError("a line must be a JSON object")
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError("field 'question' is missing or empty")
    answers = row.get("answers", row.get("answer", []))
    # An explicit null answer is how a question the sources cannot answer is written.
    answers = [] if answers is None else [answers] if isinstance(answers, str) else answers
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise ValueError("field 'answers' must be a string or a list of strings")
    sources = row.get("sources", row.get("source", []))
    sources = [sources] if isinstance(sources, str) else sources
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise ValueError("field 'sources' must be a string or a list of strings")
    document_ids = row.get("document_ids", [])
    if not isinstance(document_ids, list) or not all(isinstance(d, str) for d in document_ids):
        raise ValueError("field 'document_ids' must be a list of strings")
    spans = row.get("spans", [])
    try:
        spans = tuple((int(a), int(b)) for a, b in spans)
    except (TypeError, ValueError):
        raise ValueError("field 'spans' must be a list of [first_turn, last_turn] pairs") from None
    if spans and len(document_ids) != 1:
        raise ValueError("field 'spans' needs exactly one entry in 'document_ids'")
    if any(a > b for a, b in spans):
        raise ValueError("a span's first turn comes after its last turn")
    return EvalItem(id=str(row.get("id", f"line{number}")), question=question.strip(),
                    answers=tuple(a for a in answers if a.strip()), document_ids=tuple(document_ids),
                    sources=tuple(sources), spans=spans)


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{path}: not readable JSON: {exc}") from exc
