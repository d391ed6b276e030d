"""The password policy (密码策略), after OWASP ASVS 4.0 §2.1: at least 12 characters, not a
common or breached password nor an obvious variation of one, not the username.

No composition rules (ASVS 2.1.9): length and the common-password check do the work.

`common-passwords.txt.gz` is Django's list (django/contrib/auth/common-passwords.txt.gz,
from django 5.2.19 on PyPI, BSD licence): the 20,000 most common passwords compiled by
Royce Williams from breach corpora, lowercased and deduplicated, most common first.
Regenerate: `pip download --no-deps django`, then copy that file out of the wheel.
"""

from __future__ import annotations

import functools
import gzip
import re
from pathlib import Path

MIN_LENGTH = 12  # ASVS 2.1.1
MAX_LENGTH = 200  # ASVS 2.1.2 asks for at least 64; argon2 takes any length
COMMON_FILE = Path(__file__).with_name("common-passwords.txt.gz")
# A part of a password that is a common password counts only from this length on:
# "abc" or "love" inside a long passphrase does not make it weak.
MIN_COMMON_PART = 5
# Letters written as digits or symbols (p@ssw0rd); undone before the list is consulted.
_LEET = str.maketrans("0134578@$!|+", "oieastbasilt")
# Keyboard rows and the alphabet: a password that is a run along one of these (either
# direction, wrapping) is a pattern, however long.
_RUNS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "abcdefghijklmnopqrstuvwxyz")
_EDGE = re.compile(r"^[\d\W_]+|[\d\W_]+$")  # digits and symbols at the ends ("...2026!")


@functools.cache
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_FILE, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def _variants(password: str) -> set[str]:
    """The forms of a password compared with the list: as typed (lowercased), with the
    digits and symbols at its ends removed, and each of those with leet undone."""
    lower = password.lower()
    forms = {lower, _EDGE.sub("", lower)}
    forms |= {f.translate(_LEET) for f in forms}
    forms |= {_EDGE.sub("", f) for f in forms}
    return {f for f in forms if f}


def _is_run(password: str) -> bool:
    text = re.sub(r"[\W_]", "", password.lower())
    if not text:
        return True
    for run in _RUNS:
        for row in (run, run[::-1]):
            if text in row * (len(text) // len(row) + 2):
                return True
    return False


def _is_common(password: str) -> bool:
    common = common_passwords()
    for form in _variants(password):
        if form in common:
            return True
        # A common password padded with a little: "password1234", "iloveyou!!!!".
        core = re.sub(r"(.)\1+$", r"\1", form)
        if len(core) >= MIN_COMMON_PART and core in common:
            return True
    return False


def password_problem(password: str, username: str = "") -> str | None:
    """Why `password` may not be used (a Chinese sentence for the user), or None."""
    if len(password) < MIN_LENGTH:
        return f"密码至少{MIN_LENGTH}位(建议使用由几个词组成的短语)"
    if len(password) > MAX_LENGTH:
        return f"密码不能超过{MAX_LENGTH}位"
    name = username.strip().lower()
    lower = password.lower()
    if name and (lower == name or (len(name) >= 3 and name in lower)):
        return "密码不能包含用户名"
    if len(set(lower)) < 4 or _is_run(password):
        return "密码过于简单(重复字符或键盘、字母、数字顺序)"
    if _is_common(password):
        return "该密码是常见或已泄露的密码(或其简单变形),请换一个"
    return None
