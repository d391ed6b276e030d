"""Errors of accounts and authorisation."""

from app.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated


class BadCredentials(Unauthenticated):
    code = "bad_credentials"


class TokenInvalid(Unauthenticated):
    code = "unauthenticated"


class RoleForbidden(Forbidden):
    code = "forbidden"


class AccountInvalid(InvalidInput):
    pass


class PasswordChangeRequired(Forbidden):
    code = "password_change_required"


class WrongPassword(AccountInvalid):
    code = "wrong_password"


class UsernameTaken(Conflict):
    code = "username_taken"


class KeyUnknown(NotFound):
    code = "not_found"
