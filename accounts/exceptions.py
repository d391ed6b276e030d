"""Errors of accounts and authorisation."""

from app.errors import Conflict, Forbidden, InvalidInput, Unauthenticated


class BadCredentials(Unauthenticated):
    code = "bad_credentials"


class TokenInvalid(Unauthenticated):
    code = "unauthenticated"


class RoleForbidden(Forbidden):
    code = "forbidden"


class AccountInvalid(InvalidInput):
    pass


class UsernameTaken(Conflict):
    code = "username_taken"
