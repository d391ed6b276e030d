"""附件: files attached to an order's report or reply — checked, stored, listed.

A file is accepted by what its first bytes say it is (JPEG, PNG, GIF, WebP, HEIC, PDF,
Word/Excel/PowerPoint), never by its name or the browser's Content-Type; it is written
under `[web] upload_dir` (outside the web root) named by a random id, and its metadata
(order, event, uploader, original name, type, size, sha256) goes to `order_attachments`.
Serving (with the order's scope rules) is in `web.screens.files`.

The type table is a dozen signatures, so it is written out here rather than pulling in
`python-magic` (needs libmagic) or `filetype` (cannot tell .docx from any other zip).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import re
import secrets
import warnings
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote

from aiohttp import BodyPartReader, web
from aiohttp_session import get_session
from multidict import MultiDictProxy
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.domain import Actor
from app.db import unit_of_work
from app.errors import InvalidInput, TooLarge
from config import WebSettings
from web.session import TOKEN
from web.storage import Attachment

log = logging.getLogger(__name__)

FIELD = "files"  # the name of the <input type=file> in every form that uploads

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the legacy Office container
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
# In an OOXML zip, the folder that tells the document kind.
_OOXML_PARTS = {"word/": DOCX, "xl/": XLSX, "ppt/": PPTX}
# An OLE2 file could be any of these; its name's extension picks which.
_OLE2_BY_EXTENSION = {
    ".doc": "application/msword",
    ".xls": "application/vnd.ms-excel",
    ".ppt": "application/vnd.ms-powerpoint",
}
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/heic"})
ACCEPTED_TEXT = "图片(JPG、PNG、GIF、WebP、HEIC)、PDF 或 Office 文档(Word、Excel、PowerPoint)"
# The `accept` attribute of the file inputs: a hint for the picker, not a check.
ACCEPT_ATTR = "image/*,.pdf,.doc,.docx,.xls,.xlsx,.ppt,.pptx"


class UploadRejected(InvalidInput):
    """A file of a type we do not take, or too many files."""

    code = "upload_rejected"


class UploadTooLarge(TooLarge):
    code = "upload_too_large"


def sniff(head: bytes, name: str) -> str | None:
    """The MIME type the content shows, or None when it is not one we accept."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1"):
        return "image/heic"  # phone cameras (iPhone) save HEIC
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(OLE2):
        return _OLE2_BY_EXTENSION.get(Path(name).suffix.lower())
    if head.startswith(b"PK\x03\x04"):
        return _ooxml(head)
    return None


def _ooxml(data: bytes) -> str | None:
    """A Word/Excel/PowerPoint file is a zip with [Content_Types].xml and its folder."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, ValueError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    for prefix, mime in _OOXML_PARTS.items():
        if any(n.startswith(prefix) for n in names):
            return mime
    return None


def clean_name(filename: str | None) -> str:
    """The original name as shown to users: no path, no control characters, bounded.
    Some clients send a non-ASCII name percent-encoded (RFC 5987); it is decoded."""
    name = re.split(r"[\\/]", unquote(filename or ""))[-1]
    name = re.sub(r"[\x00-\x1f\x7f\"]", "", name).strip()
    return name[-200:] or "附件"


def size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB".replace(".0 ", " ")
    return f"{max(1, round(size / 1024))} KB"


@dataclass(frozen=True)
class Incoming:
    """One checked file, still in memory."""

    name: str
    mime: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def check(name: str, data: bytes, settings: WebSettings) -> Incoming:
    name = clean_name(name)
    if len(data) > settings.upload_max_bytes:
        raise UploadTooLarge(
            f"文件“{name}”超过大小上限({size_text(settings.upload_max_bytes)}),未保存"
        )
    if not data:
        raise UploadRejected(f"文件“{name}”是空文件,未保存")
    mime = sniff(data[:8192] if not data.startswith(b"PK") else data, name)
    if mime is None:
        raise UploadRejected(f"文件“{name}”的类型不支持,未保存。只能上传{ACCEPTED_TEXT}")
    if mime in _OOXML_PARTS.values() and not inflates_within(
        data, settings.upload_max_unzipped_bytes
    ):
        raise UploadRejected(f"文件“{name}”解压后过大或已损坏,未保存")
    if mime == "image/heic":
        # Pillow cannot decode HEIC, so its EXIF (GPS) could not be removed.
        raise UploadRejected(f"文件“{name}”是 HEIC 格式,请在手机上改为 JPG 后上传")
    if mime in _PILLOW_FORMATS:
        data = reencode(name, data, mime)
    return Incoming(name, mime, data)


_PILLOW_FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
}
# What a re-encoded image keeps of the original's metadata: how to show it, nothing else.
_KEEP_INFO = frozenset({"duration", "loop", "transparency", "background", "disposal"})
MAX_IMAGE_PIXELS = 60_000_000  # a 60-megapixel photo; more is a decompression bomb


def reencode(name: str, data: bytes, mime: str) -> bytes:
    """The image drawn again from its pixels: EXIF (GPS position, camera serial), XMP,
    comments and anything appended to the file (a GIF that is also an HTML page) are
    gone; the EXIF orientation is applied first so the photo stays upright."""
    fmt = _PILLOW_FORMATS[mime]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as image:
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise Image.DecompressionBombError(name)
                animated = getattr(image, "n_frames", 1) > 1
                clean = image if animated else ImageOps.exif_transpose(image)
                clean.info = {k: v for k, v in clean.info.items() if k in _KEEP_INFO}
                out = io.BytesIO()
                params: dict = {"format": fmt}
                if fmt in ("JPEG", "WEBP"):
                    params["quality"] = 90
                if animated:
                    params["save_all"] = True
                if fmt == "GIF":
                    params["comment"] = b""
                clean.save(out, **params)
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        ValueError,
        SyntaxError,  # Pillow's plugins raise it for some broken headers
    ):
        raise UploadRejected(f"文件“{name}”不是可以打开的图片,未保存") from None
    return out.getvalue()


def inflates_within(data: bytes, limit: int) -> bool:
    """Whether a zip's members inflate to at most `limit` bytes in all (a zip bomb of a
    few KB can inflate to gigabytes). The declared sizes are checked first; then the
    members are inflated chunk by chunk, nothing kept, stopping at the limit, because a
    header can lie (zipfile also stops a member at its declared size and checks CRCs)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if sum(m.file_size for m in members) > limit:
                return False
            total = 0
            for member in members:
                with archive.open(member) as stream:
                    while chunk := stream.read(1024 * 1024):
                        total += len(chunk)
                        if total > limit:
                            return False
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        return False
    return True


def _check_count(count: int, settings: WebSettings) -> None:
    if count > settings.upload_max_files_per_request:
        raise UploadRejected(f"每次最多上传 {settings.upload_max_files_per_request} 个文件")


def from_form(form: MultiDictProxy, settings: WebSettings) -> list[Incoming]:
    """The files of a submitted form (field `files`); empty file inputs are skipped."""
    fields = [f for f in form.getall(FIELD, []) if isinstance(f, web.FileField) and f.filename]
    _check_count(len(fields), settings)
    files = []
    for field in fields:
        data = field.file.read(settings.upload_max_bytes + 1)
        files.append(check(field.filename, data, settings))
    return files


async def from_multipart(request: web.Request, settings: WebSettings) -> list[Incoming]:
    """The files of a multipart API request, read part by part (never more than the
    limit per file is held), so the API's 1 MB JSON body limit does not apply."""
    if not request.content_type.startswith("multipart/"):
        raise UploadRejected("请以 multipart/form-data 格式上传文件(字段名 files)")
    reader = await request.multipart()
    files: list[Incoming] = []
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name != FIELD or not part.filename:
            continue  # other fields and nested multiparts are ignored
        _check_count(len(files) + 1, settings)
        data = bytearray()
        while chunk := await part.read_chunk():
            data += chunk
            if len(data) > settings.upload_max_bytes:
                break
        files.append(check(part.filename, bytes(data), settings))
    if not files:
        raise UploadRejected("没有收到文件(字段名 files)")
    return files


def file_path(root: Path, attachment_id: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{32}", attachment_id):
        raise ValueError("not an attachment id")
    return root / attachment_id[:2] / attachment_id


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


async def count_for_order(session: AsyncSession, order_id: int) -> int:
    return await session.scalar(
        select(func.count(Attachment.id)).where(Attachment.order_id == order_id)
    )


async def check_quota(
    sessions: async_sessionmaker[AsyncSession], order_id: int, adding: int, settings: WebSettings
) -> None:
    """Refuse before anything is recorded when the order would pass its file limit."""
    if not adding:
        return
    async with sessions() as session:
        have = await count_for_order(session, order_id)
    limit = settings.upload_max_files_per_order
    if have + adding > limit:
        raise UploadRejected(f"该工单的附件已达上限({limit} 个,已有 {have} 个)")


async def write_files(settings: WebSettings, files: Sequence[Incoming]) -> list[tuple[str, Path]]:
    """Write checked files under their random ids: (id, path) each, in order. Their rows
    are `attachment_row`s in the caller's transaction; `remove_files` when it fails."""
    written: list[tuple[str, Path]] = []
    try:
        for item in files:
            attachment_id = secrets.token_hex(16)
            path = file_path(settings.upload_path, attachment_id)
            await asyncio.to_thread(_write, path, item.data)
            written.append((attachment_id, path))
    except BaseException:
        remove_files(path for _, path in written)
        raise
    return written


def remove_files(paths: Iterable[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def attachment_row(
    attachment_id: str,
    item: Incoming,
    order_id: int,
    event_id: int | None,
    actor: Actor,
    now: datetime,
) -> Attachment:
    return Attachment(
        id=attachment_id,
        order_id=order_id,
        event_id=event_id,
        uploaded_by=actor.username,
        uploader_role=actor.role.value,
        uploader_unit=actor.unit.code if actor.unit else None,
        original_name=item.name,
        mime=item.mime,
        size=len(item.data),
        sha256=item.sha256,
        created_at=now,
    )


async def save(
    sessions: async_sessionmaker[AsyncSession],
    settings: WebSettings,
    order_id: int,
    event_id: int | None,
    actor: Actor,
    files: Sequence[Incoming],
    now: datetime,
) -> list[Attachment]:
    """Write the files, then their rows in one transaction; no row without its file,
    and the files are removed again when the rows cannot be written."""
    written = await write_files(settings, files)
    rows = [
        attachment_row(attachment_id, item, order_id, event_id, actor, now)
        for (attachment_id, _), item in zip(written, files, strict=True)
    ]
    try:
        async with unit_of_work(sessions) as session:
            session.add_all(rows)
    except BaseException:
        remove_files(path for _, path in written)
        raise
    log.info("order %s: %d attachment(s) saved by %s", order_id, len(rows), actor.username)
    return rows


async def for_orders(session: AsyncSession, order_ids: Iterable[int]) -> list[Attachment]:
    return list(
        await session.scalars(
            select(Attachment)
            .where(Attachment.order_id.in_(list(order_ids)))
            .order_by(Attachment.created_at, Attachment.id)
        )
    )


async def read(settings: WebSettings, attachment: Attachment) -> bytes:
    return await asyncio.to_thread(file_path(settings.upload_path, attachment.id).read_bytes)


def as_json(row: Attachment, tz) -> dict:
    return {
        "id": row.id,
        "name": row.original_name,
        "mime": row.mime,
        "size": row.size,
        "sha256": row.sha256,
        "by": row.uploaded_by,
        "role": row.uploader_role,
        "unit": row.uploader_unit,
        "event_id": row.event_id,
        "at": row.created_at.astimezone(tz).isoformat(timespec="seconds"),
        "url": f"/web/files/{row.id}",
        "image": row.mime in IMAGE_TYPES,
        "size_text": size_text(row.size),
    }


def upload_paths(path: str, method: str) -> bool:
    """Form posts that may carry files (the body limit is raised for these only)."""
    return method == "POST" and (
        path == "/web/inspector/report"
        or (path.startswith("/web/inspector/") and path.endswith("/inspect"))
        or (path.startswith("/web/orders/") and path.endswith("/reply"))
        or path == CITIZEN_SUBMIT
    )


CITIZEN_SUBMIT = "/web/citizen/submit"


def _close_files(request: web.Request) -> None:
    """aiohttp spools uploaded files to temporary files and leaves them open; the
    parsed form has no public accessor, hence `_post`."""
    form = getattr(request, "_post", None)
    for value in form.values() if form else ():
        if isinstance(value, web.FileField):
            value.file.close()


def body_limit_middleware(settings: WebSettings):
    """The app's body limit (server.max_body_bytes) is for JSON; a form with files may
    carry up to `upload_max_files_per_request` files of `upload_max_bytes` each."""
    limit = settings.upload_max_bytes * settings.upload_max_files_per_request + 1024 * 1024
    # A citizen has no login: only the request's few photos.
    citizen_limit = settings.upload_max_bytes * settings.citizen_max_photos + 1024 * 1024

    @web.middleware
    async def middleware(request: web.Request, handler) -> web.StreamResponse:
        if upload_paths(request.path, request.method) and request.content_type.startswith(
            "multipart/"
        ):
            # Only logged-in users may send that much. Loading the session on the
            # original request also lets the clone share it, so what the handler changes
            # (flash messages) is saved with the response.
            if (await get_session(request)).get(TOKEN):
                request = request.clone(client_max_size=limit)
            elif request.path == CITIZEN_SUBMIT:
                request = request.clone(client_max_size=citizen_limit)
            try:
                return await handler(request)
            finally:
                _close_files(request)
        return await handler(request)

    return middleware
