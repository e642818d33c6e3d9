"""Every string the evaluator shows, in Simplified Chinese.

Kept in one place so the font check can prove every glyph exists before start-up.
"""

from __future__ import annotations

from device.rating import Level

LEVEL_LABELS: dict[Level, str] = {
    Level.VERY_SATISFIED: "非常满意",
    Level.SATISFIED: "满意",
    Level.BASICALLY_SATISFIED: "基本满意",
    Level.DISSATISFIED: "不满意",
    Level.VERY_DISSATISFIED: "非常不满意",
}

UI = {
    "invite": "请您对本次服务进行评价",
    "idle_title": "欢迎办理业务",
    "idle_hint": "办结后请在此评价",
    "task_name": "事项名称",
    "project_no": "办件流水号",
    "staff_no": "工号",
    "staff_name": "姓名",
    "terminal_no": "终端机编号",
    "window_no": "窗口",
    "seconds_left": "秒",
    "storing": "正在保存…",
    "thanks": "感谢您的评价！",
    "your_rating": "您的评价",
    "out_of_service": "暂停评价服务",
    "keypad_lost": "评价键盘未连接",
    "clock_unsynced": "时钟未同步",
    "digits": "0123456789",
    "punctuation": "：:（）()-—/·，。！？",
}


def all_strings() -> list[str]:
    return [*LEVEL_LABELS.values(), *UI.values()]
