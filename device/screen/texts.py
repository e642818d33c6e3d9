"""Every string the evaluator shows, in Simplified Chinese (default), Traditional Chinese and
English. Kept in one place so the font check can prove every glyph exists before start-up.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

from device.record.rating import Level

SOFT_HYPHEN = "\u00ad"
BREAK = "\u200b"  # a zero-width space: where a Chinese level label breaks on a narrow button

LANGUAGES = ("zh-Hans", "zh-Hant", "en")

_LEVELS: dict[str, tuple[str, str, str, str, str]] = {  # 5 … 1
    "zh-Hans": ("非常\u200b满意", "满意", "基本\u200b满意", "不满意", "非常\u200b不满意"),
    "zh-Hant": ("非常\u200b滿意", "滿意", "基本\u200b滿意", "不滿意", "非常\u200b不滿意"),
    # a soft hyphen marks where a long word may break on a narrow button
    "en": (
        "Very satisfied",
        "Satisfied",
        "Fairly satisfied",
        "Dis\u00adsatisfied",
        "Very dis\u00adsatisfied",
    ),
}

_UI: dict[str, dict[str, str]] = {
    "zh-Hans": {
        "invite": "请您对本次服务进行评价",
        "invite_intake": "请您对收件窗口的服务进行评价",
        "idle_title": "欢迎办理业务",
        "idle_hint": "办结后请在此评价",
        "paused_title": "暂停服务",
        "paused_hint": "请工作人员登录后使用",
        "self_service": "自助服务终端",
        "task_name": "事项名称",
        "project_no": "办件流水号",
        "batch": "批量办件 共 {n} 件",
        "theme": "主题服务",
        "staff_no": "工号",
        "staff_name": "姓名",
        "terminal_no": "终端机编号",
        "window_no": "窗口",
        "hall": "大厅",
        "seconds_left": "{n} 秒",
        "overall": "总体评价",
        "business": "业务评价",
        "service": "服务评价",
        "submit": "提交",
        "thanks": "感谢您的评价！",
        "your_rating": "您的评价：{level}",
        "reasons_title": "您选择了“{level}”，请选择原因（可多选）",
        "reasons_title_private": "请选择不满意的原因（可多选）",
        "reasons_hint": "请在屏幕上点选原因后提交",
        "reasons_how": (
            "按 2、3 键选原因，4 键换一组，5 键提交；按错了按 1 键重新选择。也可直接点屏幕"
        ),
        "need_reason": "请先选择至少一个原因，再按 5 键或点“提交”",
        "choose_again": "重新选择",
        "next_group": "换一组 {i}/{n}",
        "rate_later_title": "扫码稍后评价",
        "rate_later_hint": "用手机扫描二维码，7日内可对本次服务进行评价",
        "out_of_service": "暂停评价服务",
        "oos_key": "设备密钥缺失，请联系技术人员",
        "oos_disk": "存储空间不足，请联系技术人员",
        "oos_ledger": "评价无法保存，请联系技术人员",
        "keypad_lost": "评价键盘未连接",
        "clock_unsynced": "时钟未同步",
        "backlog": "待上报 {n}",
        "previous": "上一页",
        "next": "下一页",
        "page": "{i}/{n}",
        "list_page": "（第 {i}/{n} 页）",
        "web_waiting": "正在打开评价页面…",
        "web_ended": "本次评价页面已结束",
        "web_ended_hint": "该办件已离开评价页面，不能在此评价",
        "web_rated": "该办件已评价，感谢您的参与",
        "web_elsewhere": "评价页面已在另一处打开",
        "web_back": "返回",
        "need_reason_web": "请先选择至少一个原因，再点“提交”",
        "web_offline": "正在连接评价器…",
        "web_bad_return": "返回地址不在允许范围内，页面未打开",
    },
    "zh-Hant": {
        "invite": "請您對本次服務進行評價",
        "invite_intake": "請您對收件窗口的服務進行評價",
        "idle_title": "歡迎辦理業務",
        "idle_hint": "辦結後請在此評價",
        "paused_title": "暫停服務",
        "paused_hint": "請工作人員登錄後使用",
        "self_service": "自助服務終端",
        "task_name": "事項名稱",
        "project_no": "辦件流水號",
        "batch": "批量辦件 共 {n} 件",
        "theme": "主題服務",
        "staff_no": "工號",
        "staff_name": "姓名",
        "terminal_no": "終端機編號",
        "window_no": "窗口",
        "hall": "大廳",
        "seconds_left": "{n} 秒",
        "overall": "總體評價",
        "business": "業務評價",
        "service": "服務評價",
        "submit": "提交",
        "thanks": "感謝您的評價！",
        "your_rating": "您的評價：{level}",
        "reasons_title": "您選擇了「{level}」，請選擇原因（可多選）",
        "reasons_title_private": "請選擇不滿意的原因（可多選）",
        "reasons_hint": "請在螢幕上點選原因後提交",
        "reasons_how": (
            "按 2、3 鍵選原因，4 鍵換一組，5 鍵提交；按錯了按 1 鍵重新選擇。也可直接點螢幕"
        ),
        "need_reason": "請先選擇至少一個原因，再按 5 鍵或點「提交」",
        "choose_again": "重新選擇",
        "next_group": "換一組 {i}/{n}",
        "rate_later_title": "掃碼稍後評價",
        "rate_later_hint": "用手機掃描二維碼，7日內可對本次服務進行評價",
        "out_of_service": "暫停評價服務",
        "oos_key": "設備密鑰缺失，請聯繫技術人員",
        "oos_disk": "存儲空間不足，請聯繫技術人員",
        "oos_ledger": "評價無法保存，請聯繫技術人員",
        "keypad_lost": "評價鍵盤未連接",
        "clock_unsynced": "時鐘未同步",
        "backlog": "待上報 {n}",
        "previous": "上一頁",
        "next": "下一頁",
        "page": "{i}/{n}",
        "list_page": "（第 {i}/{n} 頁）",
        "web_waiting": "正在打開評價頁面…",
        "web_ended": "本次評價頁面已結束",
        "web_ended_hint": "該辦件已離開評價頁面，不能在此評價",
        "web_rated": "該辦件已評價，感謝您的參與",
        "web_elsewhere": "評價頁面已在另一處打開",
        "web_back": "返回",
        "need_reason_web": "請先選擇至少一個原因，再點「提交」",
        "web_offline": "正在連接評價器…",
        "web_bad_return": "返回地址不在允許範圍內，頁面未打開",
    },
    "en": {
        "invite": "Please rate the service you received",
        "invite_intake": "Please rate the intake window's service",
        "idle_title": "Welcome",
        "idle_hint": "Please rate us here when you are done",
        "paused_title": "Window closed",
        "paused_hint": "Waiting for staff to sign in",
        "self_service": "Self-service terminal",
        "task_name": "Service",
        "project_no": "Case no.",
        "batch": "Batch: {n} cases in all",
        "theme": "Theme service",
        "staff_no": "Staff no.",
        "staff_name": "Name",
        "terminal_no": "Terminal no.",
        "window_no": "Window",
        "hall": "Hall",
        "seconds_left": "{n} s",
        "overall": "Overall",
        "business": "Business",
        "service": "Service",
        "submit": "Submit",
        "thanks": "Thank you for your rating!",
        "your_rating": "Your rating: {level}",
        "reasons_title": "You chose \u201c{level}\u201d. Please pick the reasons",
        "reasons_title_private": "Please pick the reasons you were not satisfied",
        "reasons_hint": "Tap the reasons on the screen, then submit",
        "reasons_how": "Keys 2 and 3 pick a reason, 4 shows more, 5 submits; pressed by "
        "mistake? Key 1 goes back. Or tap the screen",
        "need_reason": "Please pick at least one reason first, then press 5 or tap Submit",
        "choose_again": "Go back",
        "next_group": "More {i}/{n}",
        "rate_later_title": "Rate later",
        "rate_later_hint": "Scan the code with your phone to rate within 7 days",
        "out_of_service": "Rating unavailable",
        "oos_key": "Device key missing: please call a technician",
        "oos_disk": "Storage full: please call a technician",
        "oos_ledger": "Ratings cannot be stored: please call a technician",
        "keypad_lost": "Keypad disconnected",
        "clock_unsynced": "Clock not synchronised",
        "backlog": "{n} unsent",
        "previous": "Back",
        "next": "More",
        "page": "{i}/{n}",
        "list_page": "(page {i}/{n})",
        "web_waiting": "Opening the rating page…",
        "web_ended": "This rating page has ended",
        "web_ended_hint": "This case has left the rating page: it cannot be rated here",
        "web_rated": "This case has been rated. Thank you",
        "web_elsewhere": "The rating page was opened elsewhere",
        "web_back": "Back",
        "need_reason_web": "Please pick at least one reason first, then tap Submit",
        "web_offline": "Connecting to the evaluator…",
        "web_bad_return": "The return address is not allowed: the page was not opened",
    },
}
# Characters that may appear in formatted values (numbers, case numbers, countdowns).
VALUE_CHARACTERS = string.digits + string.ascii_letters + "-_/.:：（）()、…✓〓 "


class Texts:
    """The strings of one language; `level(l)` and `ui(key, **values)`."""

    def __init__(self, language: str = "zh-Hans") -> None:
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
        self.language = language
        self._levels = dict(zip((5, 4, 3, 2, 1), _LEVELS[language], strict=True))
        self._ui: Mapping[str, str] = _UI[language]

    def level(self, level: Level | int) -> str:
        return self._levels[int(level)].replace(SOFT_HYPHEN, "").replace(BREAK, "")

    def button_label(self, level: Level | int) -> str:
        """The level as on its button: may hold a soft hyphen or a zero-width space where it
        can break."""
        return self._levels[int(level)]

    def ui(self, key: str, **values: object) -> str:
        return self._ui[key].format(**values) if values else self._ui[key]

    def all_strings(self) -> list[str]:
        """Everything this language can put on screen, for the glyph check."""
        templates = [
            t.replace("{n}", "").replace("{level}", "").replace("{i}", "")
            for t in self._ui.values()
        ]
        return [*self._levels.values(), *templates, VALUE_CHARACTERS]
