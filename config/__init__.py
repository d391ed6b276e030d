"""Typed settings: `config/default.toml`, an optional file, then HOTLINE_* environment.

One `Settings` object is built at start-up and handed to the app factory; nothing else
reads the environment.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import socket
import tomllib
from datetime import time
from pathlib import Path
from typing import Annotated, Literal

from cryptography.fernet import Fernet
from pydantic import (
    BaseModel,
    Field,
    IPvAnyNetwork,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)
DEFAULT_FILE = Path(__file__).with_name("default.toml")
PROJECT_ROOT = DEFAULT_FILE.parent.parent


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why."""


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(1_048_576, gt=0)
    public_url: str = ""
    # "text" for a terminal, "json" (one object per line, with node and request id) for
    # a log collector.
    log_format: Literal["text", "json"] = "text"
    # Reverse proxies (addresses or networks) whose X-Forwarded-For names the client;
    # from any other peer the header is ignored (anyone can send it).
    trusted_proxies: list[IPvAnyNetwork] = []
    # Peers (the direct connection, not X-Forwarded-For) that may read /metrics: the
    # Prometheus scraper's networks. Loopback by default.
    metrics_networks: list[IPvAnyNetwork] = ["127.0.0.0/8", "::1/128"]
    # Service processes on this machine, each a node of the cluster; the first listens
    # on `port` and deals the connections to all (run.py, app/dealer.py). More than one
    # needs a database they share (PostgreSQL or a SQLite file). "auto": `auto_workers`.
    workers: Annotated[int, Field(ge=1, le=64)] | Literal["auto"] = "auto"


class DatabaseSettings(BaseModel):
    url: str
    echo: bool = False
    pool_size: int = Field(10, ge=1, le=500)
    max_overflow: int = Field(0, ge=0, le=500)


class AuthSettings(BaseModel):
    token_ttl_hours: float = Field(12, gt=0)
    # Who a token stands for is remembered this long on a node (accounts/actor_cache.py);
    # a revocation elsewhere in the cluster takes effect here within it. 0: no cache.
    token_cache_seconds: float = Field(5, ge=0, le=60)
    admin_password: str = ""
    argon2_time_cost: int = Field(3, ge=1)
    argon2_memory_kib: int = Field(65536, ge=8)
    # Failed logins of one username (accounts/lockout.py, in the shared database): from
    # the `login_backoff_after`-th on, each next try waits base x 2^(n - after) seconds;
    # at `login_lockout_after` the account is locked for `login_lockout_minutes`.
    login_backoff_after: int = Field(3, ge=1)
    login_backoff_base_seconds: float = Field(1, gt=0)
    login_lockout_after: int = Field(10, ge=1)
    login_lockout_minutes: float = Field(15, gt=0)
    # Failed logins per client address (in the shared database): high, because a whole
    # office behind one NAT address shares it; the per-account limit does the real work.
    login_failures_per_address: int = Field(100, ge=1)
    login_address_window_minutes: float = Field(15, gt=0)
    # Partner API keys (X-API-Key): requests per key and fixed window, counted in the
    # shared database so every node enforces one limit.
    api_key_requests_per_window: int = Field(600, ge=1)
    api_key_window_seconds: float = Field(60, gt=0)
    # Every API request counts against its user (signed in with a token) or, on public
    # routes and for requests with a wrong token, against the client address; counted by
    # all nodes together (app/ratelimit.py). A busy agent's console makes a few requests
    # a second, an intake system relaying for many agents a hundred; a runaway script or
    # a stolen token meets the 429 with Retry-After. Per address it is high: a whole
    # centre behind one NAT address signs in at the change of shift.
    user_requests_per_window: int = Field(6000, ge=1)
    address_requests_per_window: int = Field(3000, ge=1)
    request_window_seconds: float = Field(60, gt=0)


class CalendarSettings(BaseModel):
    timezone: str = "Asia/Shanghai"
    working_hours: list[tuple[time, time]]

    @field_validator("working_hours")
    @classmethod
    def _ordered(cls, periods: list[tuple[time, time]]) -> list[tuple[time, time]]:
        previous_end = time.min
        for start, end in periods:
            if not previous_end <= start < end:
                raise ValueError("working periods must be ordered and not overlap")
            previous_end = end
        if not periods:
            raise ValueError("at least one working period is needed")
        return periods


class DeadlineSettings(BaseModel):
    accept_working_hours: float = Field(gt=0)
    accept_urgent_minutes: float = Field(gt=0)
    urgent_finish_hours: float = Field(gt=0)
    finish_working_days: dict[str, float]
    return_window_working_days: float = Field(ge=0)
    max_extensions: int = Field(ge=0)
    max_extension_days: float = Field(gt=0)
    rectification_working_days: float = Field(gt=0)
    # 差评核实: a supervisor verifies a dissatisfied rating within this many working days.
    verify_working_days: float = Field(1, gt=0)
    warning_ratio: float = Field(gt=0, lt=1)
    escalate_after_working_days: float = Field(gt=0)


class ScannerSettings(BaseModel):
    interval_seconds: float = Field(60, gt=0)


class ClassifierSettings(BaseModel):
    category_model: str = "var/models/category"
    base_training_data: str = ""
    auto_dispatch_confidence: float = Field(0.97, gt=0)
    duplicate_days: float = Field(30, gt=0)
    duplicate_threshold: float | None = Field(None, gt=0, le=1)
    duplicate_certain: float | None = Field(None, gt=0)
    duplicate_auto_merge: bool = True
    duplicate_max_candidates: int = Field(1000, gt=0)
    duplicate_shortlist: int = Field(10, gt=0)
    duplicate_vectors: str = "var/models/duplicate_vectors.npz"
    # Worker processes computing the suggestions of unseen texts off the event loop
    # (dispatch/reading_pool.py); unset: `default_workers` there; 0: in-process.
    reading_workers: int | None = Field(None, ge=0, le=32)

    @property
    def category_model_path(self) -> Path:
        return _project_path(self.category_model)

    @property
    def duplicate_vectors_path(self) -> Path | None:
        return _project_path(self.duplicate_vectors) if self.duplicate_vectors else None

    @property
    def base_training_path(self) -> Path | None:
        return _project_path(self.base_training_data) if self.base_training_data else None


def _project_path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else PROJECT_ROOT / path


class KpiSettings(BaseModel):
    three_rate_weights: dict[str, float]


class ReportSettings(BaseModel):
    """The scheduled leadership reports (领导简报): daily and weekly, stored and mailed."""

    enabled: bool = True
    daily_at: str = Field("08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")  # local time
    weekly_weekday: int = Field(1, ge=1, le=7)  # ISO weekday the weekly report is made on
    recipients: list[str] = []  # besides the supervisors/admins with an e-mail address
    interval_seconds: float = Field(300, gt=0)  # how often the schedule is checked


class HotlineSettings(BaseModel):
    number: str = Field(pattern=r"^\d{3,20}$")
    name: str
    mode: Literal["central", "external", "subplatform"]


class SipSettings(BaseModel):
    enabled: bool = True
    # This intake node's name in call records; "" = <hostname>:<port>.
    node: str = Field("", max_length=64)
    # Address the SIP transports bind to, and the one put in Contact/SDP.
    bind: str = "127.0.0.1"
    public_address: str = ""
    # UDP and TCP on the same port (HOTLINE_SIP_PORT).
    port: int = Field(5060, ge=0, le=65535)
    # RTP/RTCP ports: [rtp_port, rtp_port + rtp_port_range); two per call. Give every
    # intake process on a host its own range.
    rtp_port: int = Field(40000, ge=1024, le=65534)
    rtp_port_range: int = Field(4000, ge=2, le=60000)
    max_calls: int = Field(1000, ge=1)
    # Kamailio as the agents' registrar (DESIGN §10), "host:port"; "" = none. When set,
    # an agent who logs in without a SIP URI is called at sip:<username>@<registrar>
    # (Kamailio forwards to the registered softphone), and the SIP passwords set with
    # PUT /api/v1/agents/{username}/sip-password are the ones Kamailio checks.
    registrar: str = Field("", max_length=200)
    # The digest realm softphones authenticate in (the HA1 is computed with it).
    registrar_realm: str = Field("hotline.local", min_length=1, max_length=100)
    # Greeting prompts: <prompts_dir>/<hotline number>/greeting.wav (8 kHz mono 16-bit).
    prompts_dir: str = "var/prompts"
    # Recordings: <recordings_dir>/<yyyy-mm-dd>/<call record id>.wav
    recordings_dir: str = "var/recordings"
    # pjsip log level into Python logging (0 none ... 5 trace; 2 = warnings).
    log_level: int = Field(2, ge=0, le=6)
    # On shut-down: how long to wait for hung-up calls to end before destroying pjsua.
    shutdown_timeout_seconds: float = Field(5, gt=0)
    # IVR and queue (callcenter/ivr.py)
    menu_timeout_seconds: float = Field(5, gt=0)  # silence after the menu before replaying
    menu_attempts: int = Field(3, ge=1)  # garbage/timeouts before the default queue
    queue_long_wait_seconds: float = Field(60, gt=0)  # then "press 1 to be called back"
    queue_max_wait_seconds: float = Field(600, gt=0)  # then a callback entry and goodbye
    # Agents and ACD (callcenter/acd.py)
    wrap_up_seconds: float = Field(15, ge=0)  # 话后整理 after each call, then available
    ring_timeout_seconds: float = Field(20, gt=0)  # unanswered: agent paused, next agent
    overflow_seconds: float = Field(60, ge=0)  # then `general` agents take topic callers
    # 多语种 (callcenter/languages.py): languages offered in every menu besides 普通话,
    # one key each; their callers wait for agents with the skill `lang_<code>`.
    languages: list[str] = Field(default_factory=list)
    # Survey calls (callcenter/survey.py): "" = no dialer. {phone} is the citizen's number.
    survey_uri: str = ""
    survey_hours: tuple[int, int] = (9, 20)  # local hours [start, end) to call in
    survey_attempts: int = Field(3, ge=1)  # busy/no answer this often, then an SMS link
    survey_retry_minutes: float = Field(30, gt=0)
    survey_ring_seconds: float = Field(30, gt=0)  # no answer after this: an attempt lost
    survey_interval_seconds: float = Field(60, ge=0)  # background loop; 0 = driven by hand
    survey_max_calls: int = Field(10, ge=1)  # survey calls up at once
    # Outbound campaigns (callcenter/campaigns.py) go through survey_uri too.
    campaign_interval_seconds: float = Field(1, ge=0)  # dialer loop; 0 = driven by hand
    recordings_retention_days: int = Field(0, ge=0)  # older dated folders deleted; 0 = keep

    @model_validator(mode="after")
    def _ports_fit(self) -> SipSettings:
        if self.rtp_port + self.rtp_port_range > 65536:
            raise ValueError("rtp_port + rtp_port_range must not pass 65535")
        from callcenter.languages import LANGUAGES

        unknown = sorted(set(self.languages) - set(LANGUAGES))
        if unknown:
            raise ValueError(f"unknown languages {unknown}; known: {sorted(LANGUAGES)}")
        return self

    @property
    def prompts_path(self) -> Path:
        return _project_path(self.prompts_dir)

    @property
    def recordings_path(self) -> Path:
        return _project_path(self.recordings_dir)

    @property
    def node_name(self) -> str:
        return self.node or f"{socket.gethostname()}:{self.port}"[:64]

    def greeting(self, hotline: str) -> Path:
        return self.prompts_path / hotline / "greeting.wav"


LINKAGE_SERVICES = ("110", "119", "120", "122")


class LinkageSettings(BaseModel):
    """应急联动 (callcenter/linkage.py): the emergency services' SIP gateways."""

    # Service number -> its gateway's SIP URI, e.g. "110" = "sip:110@10.0.0.5:5060";
    # a service without one cannot be handed over by SIP (a manual record still can).
    gateways: dict[str, str] = Field(default_factory=dict)
    # transfer: the caller goes to the gateway and the agent leaves; conference: all three.
    mode: Literal["transfer", "conference"] = "conference"
    ring_timeout_seconds: float = Field(20, gt=0)  # unanswered: outcome no_answer

    @model_validator(mode="after")
    def _known_services(self) -> LinkageSettings:
        unknown = set(self.gateways) - set(LINKAGE_SERVICES)
        if unknown:
            raise ValueError(f"[linkage.gateways]: unknown services {sorted(unknown)}")
        return self


class EmailSettings(BaseModel):
    """SMTP for e-mail notifications; off unless enabled."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(25, ge=1, le=65535)
    username: str = ""
    password: str = ""
    sender: str = "12345@hotline.local"
    use_tls: bool = False
    starttls: bool = False
    timeout_seconds: float = Field(10, gt=0)


class OutboxSettings(BaseModel):
    """`[outbox]`: delivery of every message to the outside (e-mail, webhooks).

    A failed message waits retry_base × 2^(attempts − 1) seconds (at most retry_max) and
    is a dead letter after `max_attempts`; a worker's claim on a message lapses after
    `claim_seconds` (a worker that died mid-send), so it must outlast one send."""

    max_attempts: int = Field(8, ge=1)
    retry_base_seconds: float = Field(15, gt=0, le=30)  # DESIGN §8: first retry within 30 s
    retry_max_seconds: float = Field(3600, gt=0)
    interval_seconds: float = Field(5, gt=0)
    claim_seconds: float = Field(120, gt=0)
    batch: int = Field(50, ge=1)
    webhook_timeout_seconds: float = Field(10, gt=0)

    @model_validator(mode="after")
    def _claim_outlasts_a_send(self) -> OutboxSettings:
        if self.claim_seconds <= self.webhook_timeout_seconds:
            raise ValueError("outbox.claim_seconds must be longer than one send's timeout")
        return self


class WebSettings(BaseModel):
    """`[web]`: the session cookie.

    `session_key` (env HOTLINE_SESSION_KEY) is a Fernet key: 32 random bytes, url-safe
    base64 (44 characters). Empty: a random key per start, so sessions end at a restart
    and several processes behind one address cannot share them (a warning is logged).
    """

    session_key: str = ""
    cookie_name: str = "HOTLINE_SESSION"
    # Only send the cookie over HTTPS. Off only for a plain-HTTP local demo
    # (scripts/demo.sh sets HOTLINE_COOKIE_SECURE=false).
    cookie_secure: bool = True
    # Lifetime of the cookie; the login token behind it expires with auth.token_ttl_hours.
    session_max_age_hours: float = Field(12, gt=0)
    # Attachments (web/uploads.py): stored outside the web root, by random id.
    upload_dir: str = "var/uploads"
    upload_max_bytes: int = Field(10 * 1024 * 1024, gt=0)  # per file
    upload_max_files_per_order: int = Field(20, ge=1)
    upload_max_files_per_request: int = Field(5, ge=1)
    # A Word/Excel/PowerPoint file is a zip: refused when its members inflate past this.
    upload_max_unzipped_bytes: int = Field(100 * 1024 * 1024, gt=0)
    # Citizen pages (web/screens/citizen.py): per client address and hour.
    citizen_submissions_per_hour: int = Field(10, ge=1)
    citizen_lookups_per_hour: int = Field(30, ge=1)
    # Photos a citizen may attach to a request on the web form (images only).
    citizen_max_photos: int = Field(3, ge=0)
    # 常用语 of the agent console: phrases inserted into the answer box with one click.
    canned_phrases: list[str] = Field(
        default_factory=lambda: [
            "您好,您反映的问题已记录,我们将转交相关单位办理,请保持电话畅通。",
            "感谢您的来电,相关政策请以主管部门最新公布为准。",
            "请您携带身份证件到就近的政务服务大厅办理。",
            "如仍有疑问,欢迎再次拨打12345热线。",
        ]
    )
    # 派单队列: an order should be dispatched within this many minutes of registration
    # (or of its return); the queue colours the waiting time by the share used
    # (deadlines.warning_ratio: yellow, 100 %: red).
    dispatch_target_minutes: int = Field(30, gt=0)
    # Maps (web/static/map.js): a tile URL template ({z}/{x}/{y}); empty = no tiles, the
    # grid cells and known addresses of our own data are the map.
    map_tiles_url: str = ""
    map_tiles_attribution: str = ""
    # Leaflet's files, served at /web/vendor/leaflet/ (Debian's libjs-leaflet).
    leaflet_dir: str = "/usr/share/javascript/leaflet"
    # 位置 → 地址: an earlier order's address counts when it is this close (metres).
    reverse_geocode_max_m: float = Field(80, gt=0)

    @property
    def upload_path(self) -> Path:
        return _project_path(self.upload_dir)

    @field_validator("session_key")
    @classmethod
    def _fernet_key(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        try:
            raw = base64.urlsafe_b64decode(value.encode())
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ValueError(
                "web.session_key must be 32 bytes in url-safe base64 "
                "(generate one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            )
        return value

    def fernet(self) -> Fernet:
        if self.session_key:
            return Fernet(self.session_key.encode())
        log.warning(
            "web.session_key (HOTLINE_SESSION_KEY) is empty: using a random session key; "
            "web logins end when the service restarts"
        )
        return Fernet(Fernet.generate_key())


class AuditSettings(BaseModel):
    """The security audit trail (accounts/audit.py). Lines are never deleted by the
    service: this is how long the operator keeps them before archiving (at least six
    months, 网络安全法 第21条)."""

    retention_days: int = Field(365, ge=180)


class PrivacySettings(BaseModel):
    """Personal data of callers (PIPL): anonymised this long after an order is closed."""

    anonymise_after_days: int = Field(365, ge=1)
    # How often the anonymisation runs (its own loop beside the deadline scanner).
    interval_seconds: float = Field(3600, gt=0)


class Open311AttributeSettings(BaseModel):
    """One extra field a service asks for (GeoReport v2 service definition attribute)."""

    code: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,40}$")
    description: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist"] = "string"
    required: bool = False
    # singlevaluelist only: key -> name
    values: dict[str, str] = Field(default_factory=dict)


class Open311Settings(BaseModel):
    """The Open311 GeoReport v2 server (integrations/open311, DESIGN §8)."""

    # Requests posted through Open311 are registered on this hotline.
    hotline: str = Field("12345", pattern=r"^\d{3,20}$")
    request_type: Literal["consultation", "help", "complaint", "report", "suggestion"] = "help"
    contact: str = "12345政务服务便民热线"
    changeset: str = "2026-12-06T00:00:00+08:00"
    # GET requests without service_request_id: this many days back by default (the
    # spec's 90) and at most this many requests in one answer (the spec's 1000).
    default_days: int = Field(90, ge=1)
    max_requests: int = Field(1000, ge=1)
    # Category code -> the extra fields it needs (metadata=true for those categories).
    attributes: dict[str, list[Open311AttributeSettings]] = Field(default_factory=dict)


class SmsSettings(BaseModel):
    """`[sms]`: SMS through Kannel (integrations/sms): acknowledgements, the survey's SMS
    fallback and unit alerts out (its sendsms interface), citizens' SMS in (its smsbox
    `get-url` calls GET /api/v1/sms/inbound with the shared secret)."""

    enabled: bool = False
    sendsms_url: str = "http://127.0.0.1:13013/cgi-bin/sendsms"
    username: str = ""
    password: str = ""
    timeout_seconds: float = Field(10, gt=0)
    # The smsbox get-url sends it as `secret=`; empty: every inbound call is refused.
    inbound_secret: str = ""
    # Numbers that can receive an SMS (mainland mobiles); others are never sent one.
    mobile_pattern: str = r"^1[3-9]\d{9}$"
    # 受理回执: the number and the tracking link, for orders taken on these channels.
    ack_on_register: bool = True
    ack_channels: list[str] = ["phone", "sms"]
    ack_template: str = "【12345】您的诉求已受理,工单号{number}。查询进度:{link}"
    # The survey's SMS fallback (after `sip.survey_attempts` unanswered calls).
    survey_template: str = "【12345】工单{number}已办结,请评价:回复1满意 2基本满意 3不满意"
    survey_thanks: str = "【12345】感谢您的评价!"
    survey_interval_seconds: float = Field(60, gt=0)
    # Unit alerts to `unit_sms_contacts` on these order events (notifications' wording).
    alert_events: list[str] = [
        "dispatch",
        "redispatch",
        "subdispatch",
        "accept_warning",
        "warning",
        "accept_overdue",
        "overdue",
    ]
    alert_prefix: str = "【12345】"


class MailSettings(BaseModel):
    """`[mail]`: the hotline mailbox, an SMTP listener started by the app
    (integrations/mailbox): each accepted message becomes an order of channel `email`."""

    inbound_enabled: bool = False
    bind: str = "127.0.0.1"
    port: int = Field(2525, ge=0, le=65535)
    # Recipients accepted: whole addresses and/or domains ("@hotline.local").
    accept: list[str] = ["@hotline.local"]
    hotline: str = Field("12345", pattern=r"^\d{3,20}$")
    max_bytes: int = Field(20 * 1024 * 1024, gt=0)
    request_type: Literal["consultation", "help", "complaint", "report", "suggestion"] = "help"
    reply_subject: str = "【12345热线】您的来信已受理(工单号 {number})"
    reply_body: str = (
        "您好:\n\n您的来信已登记为工单 {number},我们将在规定时限内办理并答复。"
        "\n查询进度:{link}\n\n此邮件由系统自动发送,请勿直接回复。"
    )


class ClusterSettings(BaseModel):
    """Several nodes on one PostgreSQL (DESIGN §10; app/bus.py, app/leader.py)."""

    # How often a standby node tries to become the leader (the one node running the
    # background jobs), and the leader checks it still is; a dead leader's jobs resume
    # on a survivor within about this long.
    leader_poll_seconds: float = Field(1.0, gt=0, le=60)
    # A node not seen for this long is dead: the leader closes its open call records and
    # frees the agents on its calls.
    node_dead_seconds: float = Field(15, gt=0)
    # Wait between attempts to re-open the bus's LISTEN connection.
    bus_reconnect_seconds: float = Field(1.0, gt=0, le=60)


class QaItemSettings(BaseModel):
    """One item of the 质检 checklist: scored 0..max, weighing `weight` in the total."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str = Field(min_length=1, max_length=40)
    max: int = Field(ge=1, le=100)
    weight: float = Field(gt=0)


class QualitySettings(BaseModel):
    """质检 (quality/): the weekly sample of recordings and the scoring checklist."""

    sample_per_agent_week: int = Field(3, ge=0, le=100)
    # The background sampler writes last week's sample this often (idempotent); 0: off
    # (then `python -m quality sample` from cron, or the 抽取 form).
    sample_interval_seconds: float = Field(3600, ge=0)
    checklist: list[QaItemSettings] = Field(
        default_factory=lambda: [
            QaItemSettings(key=key, label=label, max=5, weight=weight)
            for key, label, weight in (
                ("opening", "开场规范", 10),
                ("listening", "倾听与记录", 20),
                ("policy", "政策解答准确", 25),
                ("order_info", "工单信息完整", 20),
                ("attitude", "服务态度", 15),
                ("closing", "结束语规范", 10),
            )
        ],
        min_length=1,
        max_length=30,
    )

    @field_validator("checklist")
    @classmethod
    def _unique_keys(cls, items: list[QaItemSettings]) -> list[QaItemSettings]:
        keys = [item.key for item in items]
        if len(set(keys)) != len(keys):
            raise ValueError("quality.checklist keys must be unique")
        return items


class Settings(BaseModel):
    server: ServerSettings
    database: DatabaseSettings
    auth: AuthSettings
    calendar: CalendarSettings
    deadlines: DeadlineSettings
    scanner: ScannerSettings
    classifiers: ClassifierSettings
    kpi: KpiSettings
    hotlines: list[HotlineSettings]
    sip: SipSettings
    email: EmailSettings = EmailSettings()
    outbox: OutboxSettings = OutboxSettings()
    web: WebSettings = WebSettings()
    reports: ReportSettings = ReportSettings()
    audit: AuditSettings = AuditSettings()
    privacy: PrivacySettings = PrivacySettings()
    open311: Open311Settings = Open311Settings()
    sms: SmsSettings = SmsSettings()
    mail: MailSettings = MailSettings()
    linkage: LinkageSettings = LinkageSettings()

    cluster: ClusterSettings = ClusterSettings()

    quality: QualitySettings = QualitySettings()


# Environment variable -> (section, key). Values are parsed by the model's types.
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "HOTLINE_HOST": ("server", "host"),
    "HOTLINE_PORT": ("server", "port"),
    "HOTLINE_PUBLIC_URL": ("server", "public_url"),
    "HOTLINE_LOG_FORMAT": ("server", "log_format"),
    "HOTLINE_WORKERS": ("server", "workers"),
    "HOTLINE_NODE": ("sip", "node"),
    "HOTLINE_DB_URL": ("database", "url"),
    "HOTLINE_DB_ECHO": ("database", "echo"),
    "HOTLINE_DB_POOL_SIZE": ("database", "pool_size"),
    "HOTLINE_DB_MAX_OVERFLOW": ("database", "max_overflow"),
    "HOTLINE_ADMIN_PASSWORD": ("auth", "admin_password"),
    "HOTLINE_TOKEN_TTL_HOURS": ("auth", "token_ttl_hours"),
    "HOTLINE_USER_REQUESTS_PER_WINDOW": ("auth", "user_requests_per_window"),
    "HOTLINE_SCAN_INTERVAL": ("scanner", "interval_seconds"),
    "HOTLINE_CATEGORY_MODEL": ("classifiers", "category_model"),
    "HOTLINE_READING_WORKERS": ("classifiers", "reading_workers"),
    "HOTLINE_SIP_ENABLED": ("sip", "enabled"),
    "HOTLINE_EMAIL_ENABLED": ("email", "enabled"),
    "HOTLINE_SESSION_KEY": ("web", "session_key"),
    "HOTLINE_COOKIE_SECURE": ("web", "cookie_secure"),
    "HOTLINE_UPLOAD_DIR": ("web", "upload_dir"),
    "HOTLINE_SMTP_HOST": ("email", "host"),
    "HOTLINE_SMTP_PORT": ("email", "port"),
    "HOTLINE_SMTP_USER": ("email", "username"),
    "HOTLINE_SMTP_PASSWORD": ("email", "password"),
    "HOTLINE_SIP_BIND": ("sip", "bind"),
    "HOTLINE_SIP_PORT": ("sip", "port"),
    "HOTLINE_SMS_ENABLED": ("sms", "enabled"),
    "HOTLINE_SMS_SENDSMS_URL": ("sms", "sendsms_url"),
    "HOTLINE_SMS_USER": ("sms", "username"),
    "HOTLINE_SMS_PASSWORD": ("sms", "password"),
    "HOTLINE_SMS_INBOUND_SECRET": ("sms", "inbound_secret"),
    "HOTLINE_MAIL_INBOUND_ENABLED": ("mail", "inbound_enabled"),
    "HOTLINE_MAIL_PORT": ("mail", "port"),
}


def _merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def _resolve_sqlite_path(url: str) -> str:
    """Relative SQLite paths are relative to the project root, not the cwd."""
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str(PROJECT_ROOT / url[len(prefix) :])
    return url


def load_settings(
    path: Path | str | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Build the settings from defaults, an optional TOML file and the environment."""
    data = _read_toml(DEFAULT_FILE)
    if path is not None:
        data = _merge(data, _read_toml(Path(path)))
    env = os.environ if environ is None else environ
    for var, (section, key) in ENV_OVERRIDES.items():
        if var in env:
            data.setdefault(section, {})[key] = env[var]
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc
    settings.database.url = _resolve_sqlite_path(settings.database.url)
    if settings.server.workers == "auto":
        settings.server.workers = auto_workers(settings.database.url)
    return settings


# `[server] workers = "auto"`: what one service process with its reading worker held
# under load (RSS, issue 11: ~0.57 + 0.44 GB), with room to spare.
AUTO_WORKER_BYTES = 3 * 2**29  # 1.5 GiB
AUTO_MAX_WORKERS = 4


def database_file(database_url: str) -> Path | None:
    """The SQLite database file of `database_url`, absolute; None in memory or on PostgreSQL."""
    if not database_url.startswith("sqlite"):
        return None
    path = make_url(database_url).database
    if not path or path == ":memory:" or path.startswith("file::memory:"):
        return None
    return Path(path).resolve()


def in_memory(database_url: str) -> bool:
    """A SQLite database in memory: no other process can open it."""
    return database_url.startswith("sqlite") and database_file(database_url) is None


def auto_workers(database_url: str, cores: int | None = None, available: int | None = None) -> int:
    """One service process per core, at most `AUTO_MAX_WORKERS`, as many as the memory
    available holds at `AUTO_WORKER_BYTES` each; one on an in-memory SQLite database
    (processes cannot share it). On 2 cores two processes took 300 -> 490
    registrations/s and 1,670 -> 3,300 suggestions/s of repeated texts (the loop of one
    process was the limit; benchmarks/load/RESULTS.md)."""
    if in_memory(database_url):
        return 1
    cores = (os.cpu_count() or 1) if cores is None else cores
    available = _memory_available() if available is None else available
    by_memory = AUTO_MAX_WORKERS if available is None else available // AUTO_WORKER_BYTES
    return max(1, min(cores, AUTO_MAX_WORKERS, by_memory))


def _memory_available() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None where there is none)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
