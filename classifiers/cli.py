"""Command line: ``python -m classifiers train|evaluate|predict`` (DESIGN.md §5).

Only argument parsing and output formatting live here; the work is done by
:mod:`classifiers.training`, :mod:`classifiers.model` and :mod:`classifiers.urgency`.
Errors the user can fix print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .dataset import file_sha256, read_records
from .exceptions import ClassifierError
from .model import load_model
from .training import evaluate, load_phone_corpus, train
from .urgency import detect_urgency

EXIT_USAGE = 2


def _progress(started: float):
    def report(message: str) -> None:
        print(f"[train {time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    return report


def _dump(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


def cmd_train(args) -> int:
    data = Path(args.data)
    records = read_records(data, required=("text", args.field))
    taxonomy = Path(args.taxonomy) if args.taxonomy else None
    if taxonomy is None and not args.no_taxonomy and (data.parent / "taxonomy.jsonl").is_file():
        taxonomy = data.parent / "taxonomy.jsonl"  # a catalogue shipped next to the data
    if taxonomy is not None and not taxonomy.is_file():
        raise ClassifierError(f"分类目录文件不存在: {taxonomy}")
    unlabelled_file = Path(args.unlabelled) if args.unlabelled else None
    if unlabelled_file is None and not args.no_unlabelled:
        sibling = data.parent / "unlabelled.jsonl"  # TipDM ships its unlabelled messages
        unlabelled_file = sibling if sibling.is_file() and sibling != data else None
    unlabelled = read_records(unlabelled_file) if unlabelled_file else []
    # used only when its labels are the training labels (training.matching_supplement)
    supplement = [] if args.no_phone_corpus else load_phone_corpus()
    report = _progress(time.monotonic())
    report(f"读取 {len(records)} 条记录: {data}" + (f", 分类目录 {taxonomy}" if taxonomy else ""))
    if unlabelled_file:
        report(f"未标注记录 {len(unlabelled)} 条: {unlabelled_file}")
    model = train(
        records,
        field=args.field,
        taxonomy=taxonomy,
        use_keywords=not args.no_keywords,
        cv_folds=args.cv_folds,
        data_hash=file_sha256(data),
        progress=report,
        unlabelled=unlabelled,
        supplement=supplement,
    )
    try:
        model.save(Path(args.out))
    except OSError as exc:
        raise ClassifierError(f"无法写入模型目录 {args.out}: {exc}") from exc
    cv = model.metadata["metrics"]["cross_validation"]
    summary = f"模型已保存: {args.out} (版本 {model.version})"
    if cv:
        summary += f", 交叉验证准确率 {cv['accuracy_mean']:.3f} ± {cv['accuracy_std']:.3f}"
    report(summary)
    return 0


def cmd_evaluate(args) -> int:
    model = load_model(args.model)
    field = args.field or model.metadata.get("field", "label")
    records = read_records(args.data, required=("text", field))
    result = evaluate(model, records, field)
    if args.json:
        print(_dump(result))
    else:
        print(
            f"n={result['n']} accuracy={result['accuracy']:.4f} macro_f1={result['macro_f1']:.4f}"
        )
        for label, m in result["per_label"].items():
            print(f"  {label:12s} P={m['precision']:.3f} R={m['recall']:.3f} F1={m['f1']:.3f}")
    return 0


def _prediction(model, text: str, title: str | None, k: int) -> dict:
    top = model.predict(text, title=title, k=k)
    urgency = detect_urgency(f"{title or ''}。{text}" if title else text)
    return {
        "label": top[0][0] if top else None,
        "top": [[label, score] for label, score in top],
        "urgent": urgency.urgent,
        "urgent_type": urgency.type,
    }


def cmd_predict(args) -> int:
    if (args.text is None) == (args.data is None):
        raise ClassifierError("请给出一段文本或 --data FILE.jsonl (二选一)")
    model = load_model(args.model)
    if args.text is not None:
        if not args.text.strip():
            raise ClassifierError("文本为空")
        print(_dump(_prediction(model, args.text, None, args.top)))
        return 0
    for record in read_records(args.data, required=("text",)):
        print(_dump({"id": record.id, **_prediction(model, record.text, record.title, args.top)}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m classifiers", description="工单文本分类")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model from JSONL records")
    p.add_argument("--data", required=True, help="JSONL with id, title?, text, <field>")
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--field", default="label", help="field to predict (label, unit, ...)")
    p.add_argument("--taxonomy", help="category catalogue JSONL {level1, level2, level3}")
    p.add_argument("--no-taxonomy", action="store_true", help="ignore a sibling taxonomy.jsonl")
    p.add_argument("--no-keywords", action="store_true", help="do not use the keyword list")
    p.add_argument("--cv-folds", type=int, default=5, help="k-fold CV for metadata (0 = skip)")
    p.add_argument("--unlabelled", help="unlabelled JSONL for self-training")
    p.add_argument("--no-unlabelled", action="store_true", help="ignore a sibling unlabelled.jsonl")
    p.add_argument(
        "--no-phone-corpus",
        action="store_true",
        help="do not add the shipped short-request corpus (used only for the same labels)",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a model on labelled JSONL records")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--field", help="label field (default: the model's)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="classify one text or a JSONL file")
    p.add_argument("--model", required=True)
    p.add_argument("--data", help="JSONL records with id, title?, text")
    p.add_argument("--top", type=int, default=3)
    p.add_argument("text", nargs="?")
    p.set_defaults(func=cmd_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ClassifierError as exc:
        print(f"错误: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `predict ... | head`
        return 0
