"""The hotline mailbox through a real SMTP exchange: smtplib → the app's aiosmtpd
listener; the reply goes out through the outbox to another aiosmtpd server."""

from __future__ import annotations

import asyncio
import io
import smtplib
from email.message import EmailMessage

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.factory import create_app
from app.keys import OUTBOX, SESSIONS
from dispatch.storage import Order
from integrations.email.storage import InboundMail
from tests.api.conftest import Api, seed
from tests.conftest import make_settings
from tests.integrations.test_email import _free_port, smtp  # noqa: F401 (fixture)
from web.storage import Attachment

HOTLINE_ADDRESS = "12345@hotline.local"


@pytest.fixture
async def mailbox(aiohttp_client, any_db_url, clock, smtp, tmp_path):  # noqa: F811
    inbox, reply_port = smtp
    settings = make_settings(any_db_url)
    settings.email.enabled, settings.email.port = True, reply_port
    settings.mail.inbound_enabled, settings.mail.port = True, _free_port()
    settings.mail.max_bytes = 200_000
    settings.web.upload_dir = str(tmp_path / "uploads")
    settings.server.public_url = "https://12345.example.gov.cn"
    api = Api(await aiohttp_client(create_app(settings, now=clock, scanner=False)))
    await seed(api)
    return api, settings.mail.port, inbox


def _send(port: int, message: EmailMessage, to: str = HOTLINE_ADDRESS) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(message, from_addr="citizen@example.com", to_addrs=[to])


def _mail(subject: str = "小区噪音扰民", text: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "张先生 <citizen@example.com>"
    message["To"] = HOTLINE_ADDRESS
    message["Subject"] = subject
    message["Message-ID"] = "<m1@example.com>"
    if text is not None:
        message.set_content(text)
    return message


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(out, format="PNG")
    return out.getvalue() + b"<html>appended</html>"  # gone after re-encoding


async def _count(api: Api, model=Order) -> int:
    async with api.client.app[SESSIONS]() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_mail_becomes_an_order_with_its_attachment_and_a_reply(mailbox):
    api, port, inbox = mailbox
    message = _mail(text="东湖路12号工地夜间施工,噪音很大,请处理。")
    message.add_attachment(_png(), maintype="image", subtype="png", filename="现场.png")
    message.add_attachment(
        b"MZ\x90\x00binary", maintype="application", subtype="octet-stream", filename="tool.exe"
    )
    await asyncio.to_thread(_send, port, message)

    async with api.client.app[SESSIONS]() as session:
        order = await session.scalar(select(Order).where(Order.channel == "email"))
        record = await session.scalar(select(InboundMail))
        files = list(await session.scalars(select(Attachment)))
    assert order is not None and order.hotline_number == "12345"
    assert "小区噪音扰民" in order.content and "夜间施工" in order.content
    assert "tool.exe" in order.content  # the refused file is named on the order
    assert order.caller_name == "张先生"
    assert record.sender == "citizen@example.com" and record.order_number == order.number
    assert (record.attachments, record.refused_files) == (1, 1)
    assert [(f.original_name, f.mime) for f in files] == [("现场.png", "image/png")]
    assert files[0].size < len(_png())  # re-encoded: the appended HTML is gone
    detail = await api.order(order.number)
    assert detail["state"] == "registered"

    assert await api.client.app[OUTBOX].deliver_due() == (1, 0)
    reply = inbox.messages[-1]
    assert reply["To"] == "citizen@example.com"
    assert order.number in reply["Subject"]
    assert f"https://12345.example.gov.cn/web/citizen/t/{order.tracking_token}" in (
        reply.get_body().get_content()
    )


async def test_html_only_mail_is_registered_as_its_visible_text(mailbox):
    api, port, _ = mailbox
    message = _mail(subject="路灯不亮")
    message.add_alternative(
        "<html><head><style>p{color:red}</style></head><body><p>解放路"
        "<b>路灯</b>坏了</p><script>alert(1)</script></body></html>",
        subtype="html",
    )
    await asyncio.to_thread(_send, port, message)
    async with api.client.app[SESSIONS]() as session:
        order = await session.scalar(select(Order).where(Order.channel == "email"))
    assert "解放路路灯坏了" in order.content
    assert "alert" not in order.content and "color" not in order.content


async def test_oversize_mail_is_refused_and_nothing_registered(mailbox):
    api, port, _ = mailbox
    message = _mail(text="大附件")
    message.add_attachment(
        b"%PDF-1.4\n" + b"0" * 300_000, maintype="application", subtype="pdf", filename="big.pdf"
    )
    with pytest.raises(smtplib.SMTPException) as caught:
        await asyncio.to_thread(_send, port, message)
    assert "552" in str(caught.value)
    assert await _count(api) == 0


async def test_mail_without_text_is_refused(mailbox):
    api, port, _ = mailbox
    with pytest.raises(smtplib.SMTPDataError) as caught:
        await asyncio.to_thread(_send, port, _mail(subject="", text="   \n"))
    assert caught.value.smtp_code == 554
    assert await _count(api) == 0


async def test_unknown_recipient_is_refused(mailbox):
    api, port, _ = mailbox
    with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
        await asyncio.to_thread(_send, port, _mail(text="你好"), "someone@else.example")
    assert caught.value.recipients["someone@else.example"][0] == 550
    assert await _count(api) == 0


async def test_bad_mime_is_a_clear_refusal_and_the_listener_goes_on(mailbox):
    api, port, _ = mailbox
    raw = (
        b"From: x@example.com\r\nTo: 12345@hotline.local\r\nSubject: =?bogus?Q?zz?=\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n"
    )

    def send_raw() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail("x@example.com", [HOTLINE_ADDRESS], raw)

    with pytest.raises(smtplib.SMTPDataError) as caught:
        await asyncio.to_thread(send_raw)
    assert caught.value.smtp_code == 554
    assert await _count(api) == 0
    await asyncio.to_thread(_send, port, _mail(text="之后的一封正常来信"))
    assert await _count(api) == 1


async def test_the_same_message_sent_again_is_not_a_second_order(mailbox):
    api, port, _ = mailbox
    message = _mail(text="人行道地砖松动")
    await asyncio.to_thread(_send, port, message)
    await asyncio.to_thread(_send, port, message)  # a server that lost our 250
    assert await _count(api) == 1
    assert await _count(api, InboundMail) == 1
    other = _mail(text="另一封")
    other.replace_header("Message-ID", "<m2@example.com>")
    await asyncio.to_thread(_send, port, other)
    assert await _count(api) == 2
