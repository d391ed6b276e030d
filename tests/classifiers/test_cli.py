"""The command-line contracts of DESIGN.md §5 and issue 4, run as subprocesses."""

from __future__ import annotations

import json

from clf_helpers import OWN_DATA, run_cli


def test_train_writes_versioned_model_dir_and_reports_progress(small_model):
    meta = json.loads((small_model / "metadata.json").read_text(encoding="utf-8"))
    assert (small_model / "model.joblib").is_file()
    for key in ("version", "created_at", "field", "labels", "metrics", "training_data_sha256"):
        assert key in meta
    assert meta["field"] == "label"
    assert len(meta["labels"]) == 7
    assert len(meta["training_data_sha256"]) == 64
    assert meta["metrics"]["cross_validation"]["folds"] == 2


def test_train_progress_goes_to_stderr(tmp_path):
    data = tmp_path / "d.jsonl"
    rows = [
        {"id": i, "text": t, "label": lab}
        for i, (t, lab) in enumerate(
            [("停水了", "水"), ("没有水", "水"), ("停电了", "电"), ("没电了", "电")]
        )
    ]
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    result = run_cli("train", "--data", str(data), "--out", str(tmp_path / "m"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "[train" in result.stderr and "模型已保存" in result.stderr


def test_evaluate_json_without_title(small_model):
    result = run_cli(
        "evaluate",
        "--model",
        str(small_model),
        "--data",
        str(OWN_DATA / "phone_style.jsonl"),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) >= {"n", "accuracy", "macro_f1", "per_label"}
    assert report["n"] == 163
    assert 0.9 <= report["accuracy"] <= 1.0  # its own training data
    assert set(report["per_label"]["城乡建设"]) >= {"precision", "recall", "f1", "support"}


def test_predict_single_text_gives_top3_with_scores(small_model):
    result = run_cli("predict", "--model", str(small_model), "楼下着火了，快来人")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert len(out["top"]) == 3
    scores = [score for _, score in out["top"]]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1.0001
    assert out["label"] == out["top"][0][0]
    assert out["urgent"] is True and out["urgent_type"] == "fire"


def test_predict_batch_one_json_per_line(small_model, tmp_path):
    data = tmp_path / "q.jsonl"
    data.write_text(
        '{"id": "a", "text": "出租车司机绕路"}\n\n'
        '{"id": "b", "title": "停水", "text": "小区停水三天"}\n',
        encoding="utf-8",
    )
    result = run_cli("predict", "--model", str(small_model), "--data", str(data))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in lines] == ["a", "b"]
    for r in lines:
        assert set(r) == {"id", "label", "top", "urgent", "urgent_type"}
        assert r["urgent"] is False and r["urgent_type"] is None
    assert lines[0]["label"] == "交通运输"


def _assert_clean_error(result, *fragments):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def test_missing_data_file(small_model, tmp_path):
    _assert_clean_error(
        run_cli("evaluate", "--model", str(small_model), "--data", str(tmp_path / "no.jsonl")),
        "no.jsonl",
    )


def test_malformed_json_line_names_line_number(small_model, tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text(
        '{"id": 1, "text": "停水", "label": "城乡建设"}\n{"id": 2, "text": \n', encoding="utf-8"
    )
    _assert_clean_error(
        run_cli("evaluate", "--model", str(small_model), "--data", str(data)), "bad.jsonl:2"
    )


def test_missing_field(small_model, tmp_path):
    data = tmp_path / "nolabel.jsonl"
    data.write_text('{"id": 1, "text": "停水"}\n', encoding="utf-8")
    _assert_clean_error(
        run_cli("evaluate", "--model", str(small_model), "--data", str(data)), ":1", "label"
    )
    _assert_clean_error(
        run_cli("train", "--data", str(data), "--out", str(tmp_path / "m"), "--field", "unit"),
        "unit",
    )


def test_missing_and_corrupt_model_dir(tmp_path):
    _assert_clean_error(run_cli("predict", "--model", str(tmp_path / "none"), "停水"), "none")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.joblib").write_bytes(b"not a pickle")
    (broken / "metadata.json").write_text("{}", encoding="utf-8")
    _assert_clean_error(run_cli("predict", "--model", str(broken), "停水"), "broken")


def test_empty_text_is_a_clear_error(small_model):
    _assert_clean_error(run_cli("predict", "--model", str(small_model), "   "))


def test_no_phone_corpus_trains_without_the_short_pipeline(tmp_path):
    out = tmp_path / "plain"
    data = OWN_DATA / "phone_holdout.jsonl"
    result = run_cli(
        "train", "--data", str(data), "--out", str(out), "--cv-folds", "0", "--no-phone-corpus"
    )
    assert result.returncode == 0, result.stderr
    assert (out / "model.joblib").is_file() and not (out / "short_model.joblib").exists()
    metadata = json.loads((out / "metadata.json").read_text(encoding="utf-8"))
    assert metadata["supplement"]["used"] == 0
