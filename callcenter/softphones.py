"""Agents' softphones registered to Kamailio (DESIGN §10).

An agent's SIP password is kept as the two digest HA1 values Kamailio's auth_db checks
(`sip_credentials`: HA1 = MD5(user:realm:password), HA1B = MD5(user@realm:realm:
password)); the password itself is never stored. When [sip] registrar names Kamailio,
an agent who logs in without a SIP URI is called at sip:<username>@<registrar>: the
node sends the INVITE to Kamailio, which forwards it to the registered phone.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.exceptions import InvalidSipPassword
from callcenter.storage import SipCredential
from config import SipSettings

MIN_LENGTH, MAX_LENGTH = 8, 64


def valid_password(password: str) -> str:
    """8-64 printable ASCII characters, not only digits (softphones type them)."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH or not all(" " < c <= "~" for c in password):
        raise InvalidSipPassword("SIP 密码须为 8 至 64 位可打印字符(不含空格和中文)")
    if password.isdigit():
        raise InvalidSipPassword("SIP 密码不能全为数字")
    return password


def ha1(username: str, realm: str, password: str) -> str:
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()


async def set_password(
    session: AsyncSession, username: str, realm: str, password: str, at: datetime
) -> None:
    """Replace the agent's credentials in `realm` (in the caller's transaction)."""
    valid_password(password)
    await session.execute(
        delete(SipCredential).where(
            SipCredential.username == username, SipCredential.realm == realm
        )
    )
    session.add(
        SipCredential(
            username=username,
            realm=realm,
            ha1=ha1(username, realm, password),
            ha1b=ha1(f"{username}@{realm}", realm, password),
            updated_at=at,
        )
    )


def registered_uri(settings: SipSettings, username: str) -> str | None:
    """Where a node calls an agent's registered softphone; None without a registrar."""
    return f"sip:{username}@{settings.registrar}" if settings.registrar else None
