"""Chinese names of the codes the screens show (states come from dispatch.lifecycle)."""

from __future__ import annotations

from accounts.domain import Role

REQUEST_TYPES = {
    "consultation": "咨询",
    "help": "求助",
    "complaint": "投诉",
    "report": "举报",
    "suggestion": "建议",
    "praise": "表扬",
}
URGENCIES = {"normal": "一般", "urgent": "紧急"}
# The danger types of classifiers.urgency, as the agent's emergency banner names them.
URGENT_TYPES = {
    "poisoning": "中毒",
    "gas": "燃气泄漏",
    "fire": "火情",
    "flood": "水情",
    "collapse": "坍塌/爆炸",
    "electric": "触电",
    "violence": "暴力/治安",
    "self_harm": "轻生",
    "trapped": "被困",
    "medical": "急症/伤病",
    "traffic": "交通事故",
    "other": "其他危险",
}
CHANNELS = {
    "phone": "电话",
    "web": "网站",
    "app": "App",
    "wechat": "微信",
    "sms": "短信",
    "email": "电子邮件",
    "open311": "Open311",
    "inspector": "网格员上报",
}
# Channels an agent registers from the console.
AGENT_CHANNELS = ("phone", "web", "wechat", "sms", "app")
FLAGS = {
    "direct": "直接办理",
    "accept_warning": "签收预警",
    "accept_overdue": "签收超时",
    "warning": "预警(黄牌)",
    "overdue": "超期(红牌)",
    "supervised": "督办中",
    "extension_pending": "延期待审批",
    "extended": "已延期",
    "disputed": "退单待处理",
    "objected": "派单异议待审核",
    "verify_warning": "核实将超时",
    "verify_overdue": "核实超时",
    "clock_stopped": "计时暂停",
    "suspended": "挂起",
    "verify_pending": "差评待核实",
    "reopened": "重办",
    "escalated": "已升级",
    "calendar_unverified": "日历未核实",
    "inspected": "已现场核查",
}
# Flags drawn in the alarm colours.
RED_FLAGS = frozenset({"overdue", "accept_overdue", "escalated", "verify_overdue"})
AMBER_FLAGS = frozenset(
    {"warning", "accept_warning", "disputed", "objected", "verify_pending", "verify_warning"}
)
SATISFACTION = {"satisfied": "满意", "basic": "基本满意", "dissatisfied": "不满意"}

# Each role's home screen after login; roles without a screen yet land on /web/home.
HOME = {
    Role.AGENT: "/web/agent",
    Role.DISPATCHER: "/web/dispatch",
    Role.UNIT: "/web/unit",
    Role.LEADER: "/web/unit",
    Role.SUPERVISOR: "/web/supervise",
    Role.INSPECTOR: "/web/inspector",
    Role.ADMIN: "/web/admin/units",
}
PLACEHOLDER_HOME = "/web/home"

# (path, label) of the navigation bar, per role.
NAV = {
    Role.AGENT: [
        ("/web/agent", "坐席工作台"),
        ("/web/orders", "工单查询"),
        ("/web/quality", "我的质检"),
    ],
    Role.DISPATCHER: [
        ("/web/dispatch", "派单队列"),
        ("/web/orders", "工单查询"),
        ("/web/dashboard", "统计看板"),
    ],
    Role.UNIT: [("/web/unit", "本单位工单"), ("/web/orders", "工单查询")],
    Role.LEADER: [("/web/unit", "本单位工单"), ("/web/orders", "工单查询")],
    Role.INSPECTOR: [("/web/inspector", "上报与核查"), ("/web/orders", "我的上报")],
    Role.SUPERVISOR: [
        ("/web/supervise", "督办"),
        ("/web/supervise/ranking", "单位排名"),
        ("/web/quality", "质检"),
        ("/web/wallboard", "大屏"),
        ("/web/dashboard", "统计看板"),
        ("/web/orders", "工单查询"),
    ],
    Role.ADMIN: [
        ("/web/admin/units", "单位"),
        ("/web/admin/users", "用户"),
        ("/web/admin/hotlines", "热线"),
        ("/web/admin/catalogue", "派单目录"),
        ("/web/admin/calendar", "工作日历"),
        ("/web/admin/thresholds", "时限与阈值"),
        ("/web/admin/model", "分类模型"),
        ("/web/admin/outbox", "外发消息"),
        ("/web/admin/campaigns", "外呼任务"),
        ("/web/admin/audit", "安全审计"),
        ("/web/quality", "质检"),
        ("/web/wallboard", "大屏"),
        ("/web/dashboard", "统计看板"),
    ],
}


def home_of(role: Role) -> str:
    return HOME.get(role, PLACEHOLDER_HOME)
