"""The citizen pages in Chinese (default) or English: a message catalogue, no machine
translation. Messages are keyed by their Chinese text (as gettext's msgid), so a page
written in Chinese stays correct when a message has no English yet.

The language: the `lang` cookie (set by /web/citizen/lang/{zh|en}), else the browser's
`Accept-Language`, else Chinese. Staff screens stay Chinese.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from urllib.parse import urlsplit

from aiohttp import web

from app.keys import SETTINGS

# The pages that follow the visitor's language (and show the hotline's public name).
PUBLIC_PREFIX = "/web/citizen"
LANGS = ("zh", "en")
DEFAULT = "zh"
COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
_LANG = web.RequestKey("citizen_lang", str)

Translate = Callable[..., str]

EN: dict[str, str] = {
    # header and titles
    "12345 政务服务便民热线": "12345 Government Service Hotline",
    "12345 政务服务便民热线 · 网上诉求": "12345 Government Service Hotline · Online requests",
    "市民诉求": "Citizen requests",
    "诉求已提交": "Request submitted",
    "工单 {number} 办理进度": "Request {number}: progress",
    "工单 {number}": "Request {number}",
    # the request form
    "提交诉求": "Submit a request",
    "热线": "Hotline",
    "12345政务服务便民热线": "12345 Government Service Hotline",
    "12319城建服务热线": "12319 Urban Construction Hotline",
    "12358价格监督举报热线": "12358 Price Supervision Hotline",
    "12350安全生产举报热线": "12350 Work Safety Hotline",
    "诉求类型": "Type of request",
    "咨询": "Enquiry",
    "求助": "Request for help",
    "投诉": "Complaint",
    "举报": "Report of a violation",
    "建议": "Suggestion",
    "表扬": "Praise",
    "诉求内容(必填)": "Your request (required)",
    "请写明问题发生的时间、地点和具体情况": "When and where it happens, and what happens",
    "事发地址": "Address of the problem",
    "如:东湖区湖滨街道锦绣花园3栋": "e.g. Jinxiu Garden building 3, Hubin Street, Donghu District",
    "使用当前位置": "Use my location",
    "可填写地址,或使用手机定位,也可在地图上点选": (
        "Type the address, use your phone's location, or click on the map"
    ),
    "地图": "Map",
    "地图组件未安装,仅显示坐标": "The map component is not installed; coordinates only",
    "底图无法加载,显示本系统网格": "Map tiles unavailable; showing our own grid",
    "现场照片(可选,最多 {n} 张)": "Photos (optional, at most {n})",
    "您的称呼": "Your name",
    "如:王先生": "e.g. Mr Wang",
    "手机号码(必填,用于查询和回访)": "Mobile number (required, to track and follow up)",
    "对承办单位保密我的身份信息": "Keep my identity confidential from the handling agency",
    # tracking
    "查询办理进度": "Track a request",
    "工单编号": "Request number",
    "提交时填写的手机号码": "Mobile number given with the request",
    "查询": "Track",
    "您的个人信息仅用于办理本诉求。紧急情况请直接拨打 110、119、120。": (
        "Your personal data is used only to handle this request. "
        "In an emergency call 110, 119 or 120."
    ),
    "您的工单编号:": "Your request number: ",
    "请保存下面的查询链接,随时查看办理进度并在答复后评价(链接仅您本人持有,请勿转发):": (
        "Keep this link to follow your request and rate the answer "
        "(it is yours only, please do not share it):"
    ),
    "也可以在市民诉求页面用工单编号和手机号码查询:": (
        "You can also track it with the request number and your mobile number:"
    ),
    "提交时间": "Submitted",
    "地址": "Address",
    "诉求内容": "Your request",
    "答复内容": "Answer",
    "附件": "Attachments",
    "承办单位答复附件": "Attachment of the answer",
    "您提交的照片": "Your photo",
    "办理过程": "History",
    # rating
    "请您评价": "Please rate the answer",
    "对本次办理的评价": "How was your request handled?",
    "非常满意": "Very satisfied",
    "满意": "Satisfied",
    "基本满意": "Fairly satisfied",
    "不满意": "Dissatisfied",
    "非常不满意": "Very dissatisfied",
    "您的问题是否已经解决": "Has your problem been solved?",
    "已解决": "Solved",
    "未解决": "Not solved",
    "提交评价": "Submit rating",
    "您的评价:": "Your rating: ",
    "我们将在 1 个工作日内核实您反映的情况,并告知您处理结果。": (
        "We will check what you told us within 1 working day and let you know."
    ),
    "感谢您的评价!": "Thank you for your rating!",
    "评价未成功:{error}": "The rating was not saved: {error}",
    # states, in plain words
    "已受理,等待分派": "Received, waiting to be assigned",
    "已转交承办单位": "Passed to the handling agency",
    "承办单位正在办理": "The handling agency is working on it",
    "正在重新分派承办单位": "Being assigned to another agency",
    "承办单位已答复,正在审核": "Answered; the answer is being reviewed",
    "已答复,欢迎您评价": "Answered; please rate the answer",
    "已办结": "Closed",
    "已与相同诉求合并办理": "Handled together with the same request",
    "已作无效处理": "Closed as invalid",
    "已答复,您的评价正在核实": "Answered; your rating is being checked",
    # the public history
    "您的诉求已受理": "Your request was received",
    "已转交{unit}办理": "Passed to {unit}",
    "{unit}已签收,正在办理": "{unit} accepted it and is working on it",
    "承办单位": "the handling agency",
    "正在重新确定承办单位": "Finding the right agency again",
    "办理时限已依规延长": "The deadline was extended under the rules",
    "已答复": "Answered",
    "答复已通过审核": "The answer was approved",
    "答复需完善,正在继续办理": "The answer is being improved",
    "您的评价:{rating}": "Your rating: {rating}",
    "已回访": "Followed up by phone",
    "经核实,已要求承办单位整改": "Checked: the agency was told to put it right",
    "经核实,工单办结": "Checked: the request is closed",
    "。说明:{note}": ". Note: {note}",
    "已重新办理": "Reopened",
    "合并办理的诉求已答复,本工单随之办结": "The merged request was answered; this one is closed",
    # errors
    "手机号码:请填写,用于查询办理进度和回访": (
        "Mobile number: required, to track the request and follow up"
    ),
    "未找到该工单,请核对工单编号和提交时填写的手机号码": (
        "No such request: check the number and the mobile number you gave"
    ),
    "操作过于频繁,请一小时后再试": "Too many attempts; please try again in an hour",
    "照片:只能上传图片(JPEG、PNG、GIF、WebP、HEIC)": (
        "Photos: images only (JPEG, PNG, GIF, WebP, HEIC)"
    ),
    "照片:最多 {n} 张": "Photos: at most {n}",
    "位置:格式不正确,请重新定位": "Location: not valid, please locate again",
    "位置:经纬度超出范围,请重新定位": "Location: out of range, please locate again",
    # form checks (web/forms.py: "字段:问题;字段:问题")
    "来电号码": "Mobile number",
    "来电人": "Your name",
    "缺少必填字段": "required",
    "不能为空": "must not be empty",
    "内容过长": "too long",
    "取值不在允许范围内": "not an allowed value",
    "格式不正确": "not valid",
    "表单": "Form",
    # error pages (web/middleware.py)
    "请求有误": "Bad request",
    "提交的内容不正确,请返回修改后重试。": "What was sent is not valid; please correct it.",
    "无权访问": "Forbidden",
    "页面不存在": "Page not found",
    "您访问的页面或工单不存在,或不在您的权限范围内。": "This page or request does not exist.",
    "操作过于频繁": "Too many requests",
    "请稍后再试。": "Please try again later.",
    "系统繁忙": "Service unavailable",
    "服务器内部错误,请稍后重试。如问题持续,请联系系统管理员。": (
        "Internal error; please try again later."
    ),
    "页面已过期或安全校验失败(CSRF),请刷新页面后重新提交。": (
        "The page has expired; please reload it and submit again."
    ),
    "返回市民诉求页面": "Back to citizen requests",
    # the page's scripts (web/static/inspector.js)
    "此浏览器不支持定位,请填写地址": "This browser cannot locate you; please type the address",
    "正在获取位置…": "Locating…",
    "已定位:": "Located: ",
    "(精度约 {m} 米)": " (about {m} m)",
    "无法获取位置(请允许定位,或填写详细地址)": (
        "No location (allow location access, or type the address)"
    ),
    "已根据位置填写地址,请核对": "Address filled in from your location; please check it",
}
CATALOGUES: dict[str, dict[str, str]] = {"zh": {}, "en": EN}
# Messages the page scripts show (sent with the page as JSON, web/templates/_map_scripts.html).
JS_MESSAGES = (
    "此浏览器不支持定位,请填写地址",
    "正在获取位置…",
    "已定位:",
    "(精度约 {m} 米)",
    "无法获取位置(请允许定位,或填写详细地址)",
    "已根据位置填写地址,请核对",
)


def best_language(accept: str) -> str:
    """The first of LANGS the Accept-Language header prefers (q-values honoured)."""
    ranked = []
    for i, part in enumerate(accept.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGS and q > 0:
            ranked.append((-q, i, primary))
    return min(ranked)[2] if ranked else DEFAULT


def language(request: web.Request) -> str:
    if _LANG in request:
        return request[_LANG]
    chosen = request.cookies.get(COOKIE)
    lang = chosen if chosen in LANGS else best_language(request.headers.get("Accept-Language", ""))
    request[_LANG] = lang
    return lang


@lru_cache(maxsize=len(LANGS) + 1)
def translator(lang: str) -> Translate:
    catalogue = CATALOGUES.get(lang, {})

    def translate(text: str, **params) -> str:
        out = catalogue.get(text, text) if text else text
        return out.format(**params) if params else out

    return translate


CHINESE = translator(DEFAULT)


def message(t: Translate, text: str) -> str:
    """An error message in the visitor's language: whole, or as the form checks' parts
    ("诉求内容:缺少必填字段;来电号码:格式不正确" → "Your request: required; ...")."""
    if text in EN or t is CHINESE:
        return t(text)
    parts = []
    for part in text.split(";"):
        field, sep, problem = part.partition(":")
        parts.append(f"{t(field)}: {t(problem)}" if sep else t(part))
    return "; ".join(parts)


def gettext(request: web.Request) -> Translate:
    """The translation function of this request's citizen language."""
    return translator(language(request))


def js_messages(lang: str) -> dict[str, str]:
    t = translator(lang)
    return {m: t(m) for m in JS_MESSAGES}


async def switch(request: web.Request) -> web.StreamResponse:
    """GET /web/citizen/lang/{lang}?next=/web/citizen/...: remember the choice (cookie)."""
    lang = request.match_info["lang"]
    target = request.query.get("next", PUBLIC_PREFIX)
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(PUBLIC_PREFIX):
        target = PUBLIC_PREFIX  # never an open redirect
    response = web.HTTPFound(target)
    secure = request.app[SETTINGS].web.cookie_secure  # as the session cookie
    response.set_cookie(
        COOKIE, lang, max_age=COOKIE_MAX_AGE, samesite="Lax", httponly=True, secure=secure
    )
    raise response
