"""The password policy (accounts/policy.py), without a database or a server."""

from __future__ import annotations

import pytest

from accounts.policy import common_passwords, password_problem
from app.demo import DEMO_PASSWORD
from tests.conftest import ADMIN_PASSWORD, INITIAL_PASSWORD, PASSWORD


def test_the_shipped_list_is_the_common_passwords():
    common = common_passwords()
    assert len(common) > 19_000
    assert {"123456", "password", "qwertyuiop", "iloveyou", "1q2w3e4r5t"} <= common


@pytest.mark.parametrize(
    "password",
    [
        "Short1!",  # too short
        "abcd1234efg",  # 11 characters
        "1qaz2wsx3edc",  # in the list (as typed)
        "Q1W2E3R4T5Y6",  # in the list, lowercased
        "Password1234",  # a common password with digits after it
        "P@ssw0rd2026!",  # the same in leet
        "iloveyou!!!!",
        "1234567890123",  # a run of digits
        "zyxwvutsrqponm",  # the alphabet backwards
        "aaaaaaaaaaaaaaa",  # one character
        "abababababababab",
    ],
)
def test_weak_passwords_are_refused(password):
    assert password_problem(password, "someone") is not None


def test_the_username_may_not_be_the_password_or_in_it():
    assert "用户名" in password_problem("dispatcher-zhang", "dispatcher")
    assert "用户名" in password_problem("Zhangwei2026ab", "zhangwei2026ab")
    assert password_problem("Kettle-Morning-Rain", "zhangwei") is None


def test_long_passphrases_pass():
    for password in ("Kettle-Morning-Rain", "correct horse battery staple", "东湖街道-办事-2026"):
        assert password_problem(password, "zhangwei") is None


def test_the_project_s_own_passwords_comply():
    for user, password in [
        ("admin", ADMIN_PASSWORD),
        ("agent", PASSWORD),
        ("dispatcher", INITIAL_PASSWORD),
        ("supervisor1", DEMO_PASSWORD),
    ]:
        assert password_problem(password, user) is None, (user, password)
