"""Accounts: users, roles, password hashing, API tokens and keys (账号与权限)."""
