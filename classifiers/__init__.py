"""Text intelligence for work orders: category / unit classifier, urgency, request type
and district extraction.

Python API (for the server; load once at start-up, swap the object on retrain)::

    from classifiers import load_model, detect_urgency, classify_request_type
    from classifiers import extract_district, Gazetteer

    model = load_model("var/models/category")          # TextClassifier, < 2 s
    model.predict("小区停水两天了", title=None, k=3)     # [("城乡建设", 0.81), ...]
    model.version, model.labels, model.metadata          # metadata.json contents

    detect_urgency("楼下着火了")       # UrgencyResult(urgent=True, type="fire", matched=("着火",))
    detect_urgency("楼下着火了").linkage  # "119" (110/119/120/122)
    classify_request_type("请问社保卡怎么补办")  # "consultation"  (REQUEST_TYPE_NAMES -> 咨询)
    extract_district("A7县星沙街道xx小区")        # "A7县" (default gazetteer)
    extract_district(addr, Gazetteer.from_file("config/gazetteer.json"))

* ``TextClassifier.predict`` returns calibrated probabilities (LinearSVC with stacked
  multinomial calibration over char 1-3-gram TF-IDF plus catalogue-keyword evidence,
  trained on whole messages, their titles and their short fragments) and ``[]`` for
  input without any letter or CJK character. Trained with the shipped corpus of short
  requests (``load_phone_corpus()``, the CLI's default when the labels are its TipDM
  labels), a second pipeline answers requests of at most 150 characters. Traditional
  characters, full-width forms and common dialect words are normalised first
  (:mod:`classifiers.text`).
* Training is CPU-bound: call :func:`train` in an executor, never on the event loop.
  ``train(records, field="unit")`` builds the unit recommender with the same machinery.
* Errors a user can fix derive from :class:`ClassifierError` (``ModelNotFound``,
  ``ModelLoadError``, ``DataError``, ``TrainingError``): on a missing or corrupt model
  the server should log it and run without suggestions.
* Command line: ``python -m classifiers train|evaluate|predict`` (see ``cli.py``).
"""

from .dataset import Record, read_records
from .districts import DistrictMatch, Gazetteer, default_gazetteer, extract_district
from .exceptions import ClassifierError, DataError, ModelLoadError, ModelNotFound, TrainingError
from .model import ModelSettings, TextClassifier, load_model
from .request_type import REQUEST_TYPE_NAMES, REQUEST_TYPES, classify_request_type
from .training import evaluate, load_phone_corpus, train
from .urgency import UrgencyResult, detect_urgency

__all__ = [
    "REQUEST_TYPES",
    "REQUEST_TYPE_NAMES",
    "ClassifierError",
    "DataError",
    "DistrictMatch",
    "Gazetteer",
    "ModelLoadError",
    "ModelNotFound",
    "ModelSettings",
    "Record",
    "TextClassifier",
    "TrainingError",
    "UrgencyResult",
    "classify_request_type",
    "default_gazetteer",
    "detect_urgency",
    "evaluate",
    "extract_district",
    "load_model",
    "load_phone_corpus",
    "read_records",
    "train",
]
