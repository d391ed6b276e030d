"""Python API of the classifier: predictions, odd input, fast transform equivalence."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from clf_helpers import OWN_DATA
from sklearn.feature_extraction.text import TfidfVectorizer

from classifiers import load_model, read_records, train
from classifiers.char_features import CharTfidf
from classifiers.exceptions import ModelNotFound, TrainingError
from classifiers.model import TextClassifier
from classifiers.text import MAX_CHARS, build_document, normalize
from classifiers.training import load_phone_corpus


@pytest.fixture(scope="module")
def model(small_model):
    return load_model(small_model)


def test_probabilities_are_calibrated_and_sorted(model):
    top = model.predict("小区物业乱收停车费", k=7)
    assert len(top) == 7
    assert abs(sum(p for _, p in top) - 1) < 1e-3
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)
    assert top[0][0] == "城乡建设"


@pytest.mark.parametrize("text", ["", "   ", "？？！！。。", "......", None])
def test_no_content_gives_no_suggestion(model, text):
    assert model.predict(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "樓下燒烤攤油煙太大了，晚上還很吵",  # traditional
        "Hello, my landlord won't return the deposit",  # English
        "小区wifi信号差，ＡＰＰ报修没人理 123",  # mixed scripts, full-width
        "噪音" * 50_000,  # 100 kB
    ],
)
def test_odd_input_gives_a_result(model, text):
    top = model.predict(text)
    assert len(top) == 3


def test_traditional_is_converted():
    assert normalize("燒烤攤油煙") == "烧烤摊油烟"
    assert len(build_document("很长" * 100_000, title="标题")) <= MAX_CHARS


def test_load_missing_model_raises(tmp_path):
    with pytest.raises(ModelNotFound):
        load_model(tmp_path / "nope")


def test_unit_field_trains_a_unit_recommender(tmp_path):
    rows = [
        {"id": i, "text": t, "label": "x", "unit": u}
        for i, (t, u) in enumerate(
            [
                ("停水三天", "水务局"),
                ("自来水发黄", "水务局"),
                ("水压太低", "水务局"),
                ("路灯不亮", "城管局"),
                ("占道经营", "城管局"),
                ("乱摆摊", "城管局"),
            ]
        )
    ]
    path = tmp_path / "units.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    clf = train(read_records(path), field="unit", cv_folds=0, supplement=load_phone_corpus())
    assert clf.metadata["field"] == "unit"
    assert clf.predict("家里没有自来水", k=1)[0][0] == "水务局"
    # the short-request corpus has other labels: never learned by this model
    assert clf.short_pipeline is None and clf.metadata["supplement"]["used"] == 0


def test_single_label_is_rejected(tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": "x"}\n', encoding="utf-8")
    with pytest.raises(TrainingError):
        train(read_records(path), cv_folds=0)


def test_fast_char_transform_equals_sklearn():
    docs = [build_document(r.text) for r in read_records(OWN_DATA / "phone_style.jsonl")]
    docs += ["", "  a   b  ", "Hello World 你好"]
    fast = CharTfidf().fit(docs[:120])
    ref = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True).fit(docs[:120])
    diff = fast.transform(docs[120:]) - ref.transform(docs[120:])
    assert np.abs(diff.toarray()).max() < 1e-6


def test_char_vocabulary_is_kept_as_arrays_and_old_pickles_convert():
    # the vocabulary as sorted code-point keys: the same rows as scikit-learn's dict
    # (characters outside the BMP, NUL, spaces and case included), no dict kept, and a
    # model pickled with the dict (before) is converted when loaded
    docs = [build_document(r.text) for r in read_records(OWN_DATA / "phone_style.jsonl")]
    docs += ["\x00a\x00", "𠀀𠀁😀 x", "Hello  WORLD", "A", ""]
    fast = CharTfidf().fit(docs[:-30])
    assert "vocabulary_" not in vars(fast) and len(fast.gram_columns_) > 1000
    ref = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True).fit(docs[:-30])
    probe = [*docs[-30:], "\x00", "𠀀", "a\x00b", "zzzq"]
    diff = fast.transform(probe) - ref.transform(probe)
    assert np.abs(diff.toarray()).max() < 1e-6
    names = fast.get_feature_names_out()
    assert list(names) == list(ref.get_feature_names_out())

    old = CharTfidf()
    old.__dict__.update({k: v for k, v in vars(ref).items() if k != "analyzer"})
    old.__dict__.pop("gram_columns_", None)
    assert "vocabulary_" in vars(old) and old.gram_columns_ is None  # as pickled before
    loaded = pickle.loads(pickle.dumps(old))
    assert "vocabulary_" not in vars(loaded)
    again = pickle.loads(pickle.dumps(fast))
    for vectorizer in (loaded, again):
        diff = vectorizer.transform(probe) - ref.transform(probe)
        assert np.abs(diff.toarray()).max() < 1e-6


def test_svm_weights_are_kept_once(small_model):
    # coef_ is a view of the transposed copy the product uses, also after pickling
    clf = load_model(small_model).pipeline.named_steps["clf"]
    assert np.shares_memory(clf.coef_, clf.coef_t_) and clf.coef_t_.flags.c_contiguous
    again = pickle.loads(pickle.dumps(clf))
    assert np.shares_memory(again.coef_, again.coef_t_)
    np.testing.assert_array_equal(again.coef_, clf.coef_)
    assert "coef_" in vars(clf)  # pickling did not take it from the live object


def test_self_training_adds_confident_unlabelled_messages():
    from dataclasses import replace

    from classifiers.model import ModelSettings

    labelled = read_records(OWN_DATA / "phone_style.jsonl")
    unlabelled = [
        replace(r, raw={"id": r.id, "text": r.text})
        for r in read_records(OWN_DATA / "phone_dev.jsonl")
    ]
    settings = ModelSettings(self_training_threshold=0.5)
    model = train(labelled, cv_folds=0, settings=settings, unlabelled=unlabelled)
    used = model.metadata["self_training"]
    assert used["unlabelled"] == len(unlabelled)
    assert 0 < used["pseudo_labelled"] <= len(unlabelled)
    assert model.predict("公交车老是不按时来", k=1)[0][0] == "交通运输"
    plain = train(labelled, cv_folds=0, settings=settings)
    assert plain.metadata["self_training"] == {"unlabelled": 0, "pseudo_labelled": 0}


def test_short_requests_go_to_the_short_pipeline_with_its_prior_divided_out(model):
    """A model trained with the short-request corpus answers short documents with its
    short pipeline, p * prior^-power (renormalised) with that pipeline's training prior;
    a long letter gets the main pipeline's calibrated probabilities unchanged."""
    assert model.short_pipeline is not None  # saved and loaded with the model (CLI)
    assert model.metadata["supplement"]["used"] > 0
    prior = np.asarray(model.metadata["short_class_prior"])
    assert len(prior) == len(model.labels) and abs(prior.sum() - 1) < 1e-4
    power = model.metadata["settings"]["short_prior_power"]
    assert power > 0
    short = build_document("小区门口的路灯坏了好几天")
    long = build_document("小区门口的路灯坏了好几天，" * 20)
    assert len(short) <= model.metadata["settings"]["short_chars"] < len(long)
    raw_short = TextClassifier(pipeline=model.short_pipeline).predict_proba_docs([short])[0]
    raw_long = TextClassifier(pipeline=model.pipeline).predict_proba_docs([long])[0]
    got = model.predict_proba_docs([short, long])
    expected = raw_short * prior**-power
    np.testing.assert_allclose(got[0], expected / expected.sum(), rtol=1e-5)
    np.testing.assert_allclose(got[1], raw_long, rtol=1e-6)
    np.testing.assert_allclose(model.predict_proba_docs([short])[0], got[0], rtol=1e-6)


def test_calibrator_is_fitted_on_the_masked_rows_only():
    """Self-training's pseudo-labelled rows train the SVM but not the calibrator."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from classifiers.calibration import CalibratedLinearSVC

    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 5)) + np.repeat(np.eye(3, 5) * 2, 30, axis=0)
    y = np.repeat(np.array(["a", "b", "c"]), 30)
    mask = np.arange(90) % 3 != 0
    clf = CalibratedLinearSVC(folds=3).fit(X, y, calibration_mask=mask)
    splitter = StratifiedKFold(3, shuffle=True, random_state=0)
    margins = cross_val_predict(clf._svm(), X, y, cv=splitter, method="decision_function")
    expected = LogisticRegression(max_iter=1000).fit(margins[mask], y[mask])
    np.testing.assert_allclose(clf.calibrator_.coef_, expected.coef_, rtol=1e-4, atol=1e-6)
    unmasked = CalibratedLinearSVC(folds=3).fit(X, y)
    assert not np.allclose(unmasked.calibrator_.coef_, clf.calibrator_.coef_)


def test_word_ngrams_are_jieba_words_and_pairs():
    from classifiers.word_features import word_ngrams

    grams = word_ngrams("水龙头一滴水都没有，。")
    assert "水龙头" in grams  # a word the characters alone split up
    assert any(" " in g and g.startswith("水龙头 ") for g in grams)  # a word pair
    assert "，" not in grams and "。" not in grams and "，。" not in grams
    assert word_ngrams("") == []


def test_short_pipeline_has_word_features_and_survives_a_round_trip(model, small_model):
    """The short-request pipeline carries the jieba word block beside the characters;
    the long-letter pipeline does not; a loaded model predicts what the saved one did."""
    blocks = dict(model.short_pipeline.named_steps["features"].transformer_list)
    assert "words" in blocks and "chars" in blocks
    assert "words" not in dict(model.pipeline.named_steps["features"].transformer_list)
    docs = ["快递放驿站不送上门", "没活干了去哪里登记失业"]
    words = blocks["words"].transform(docs)
    assert words.shape[0] == 2 and words.nnz > 0
    again = load_model(small_model)
    np.testing.assert_allclose(again.predict_proba_docs(docs), model.predict_proba_docs(docs))


def test_fast_word_transform_equals_sklearn():
    from classifiers.word_features import WordTfidf

    docs = ["快递放驿站不送上门", "水龙头一滴水都没有", "没活干了去哪里登记失业", "", "，。"]
    fast = WordTfidf(max_n=2, scale=0.5).fit(docs)
    slow = TfidfVectorizer.transform(fast, docs) * 0.5  # scikit-learn's own transform
    np.testing.assert_allclose(fast.transform(docs).toarray(), slow.toarray(), rtol=1e-6)
    np.testing.assert_allclose(fast.fit_transform(docs).toarray(), slow.toarray(), rtol=1e-6)
