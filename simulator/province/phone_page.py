"""The HTML a rater's phone gets from the rate-later code: the rating form, the thank-you page
and the refusals, in Chinese. Pure rendering, no script: levels are big radio buttons, the
reasons for 1–2 appear by CSS alone, nothing is pre-selected, every value is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

LEVELS = ((5, "非常满意"), (4, "满意"), (3, "基本满意"), (2, "不满意"), (1, "非常不满意"))
LEVEL_NAMES = dict(LEVELS)
REASON_LEVELS = (1, 2)
CODE_FIELDS = ("p", "d", "t", "k", "s")
MAX_TEXT = 500

STYLE = """
*{box-sizing:border-box}
body{font-family:"Noto Sans CJK SC","Noto Sans SC","PingFang SC","Microsoft YaHei",sans-serif;
margin:0;background:#f4f6f9;color:#1f2933;font-size:18px;line-height:1.5}
header{background:#b71c1c;color:#fff;padding:16px 18px}
header h1{margin:0;font-size:22px}header p{margin:4px 0 0;font-size:15px;opacity:.9}
main{padding:14px 16px 28px;max-width:560px;margin:0 auto}
h2{font-size:19px;margin:10px 0}
.note{background:#fff;border-radius:8px;padding:10px 14px;margin:0 0 12px;font-size:16px}
.error{background:#fdecea;color:#b71c1c;border-radius:8px;padding:10px 14px;font-weight:600}
form{display:flex;flex-direction:column;gap:10px}
input.lv{position:absolute;opacity:0;width:1px;height:1px}
label.lv{display:flex;align-items:center;justify-content:center;min-height:60px;padding:8px 18px;
background:#fff;border:2px solid #cbd2d9;border-radius:12px;font-size:22px;font-weight:600}
input.lv:focus-visible+label.lv{outline:3px solid #1565c0}
#lv5:checked+label{background:#2e7d32;border-color:#2e7d32;color:#fff}
#lv4:checked+label{background:#66a84a;border-color:#66a84a;color:#fff}
#lv3:checked+label{background:#9e9d24;border-color:#9e9d24;color:#fff}
#lv2:checked+label{background:#ef6c00;border-color:#ef6c00;color:#fff}
#lv1:checked+label{background:#c62828;border-color:#c62828;color:#fff}
fieldset.tags{display:none;border:0;margin:4px 0;padding:0}
fieldset.tags legend{font-size:18px;font-weight:600;margin-bottom:6px}
#lv1:checked~fieldset.tags,#lv2:checked~fieldset.tags,fieldset.tags.on{display:block}
label.tag{display:none;align-items:center;gap:10px;min-height:48px;margin:6px 0;padding:6px 14px;
background:#fff;border:2px solid #cbd2d9;border-radius:10px;font-size:18px}
label.tag input{width:24px;height:24px}
#lv1:checked~fieldset .t1,#lv2:checked~fieldset .t2,label.tag.on{display:flex}
label.text{font-weight:600;margin-top:6px}
textarea{width:100%;min-height:96px;font-size:18px;padding:8px;border:2px solid #cbd2d9;
border-radius:10px;font-family:inherit}
button{min-height:60px;font-size:22px;font-weight:600;color:#fff;background:#b71c1c;border:0;
border-radius:12px;margin-top:6px}
.big{font-size:24px;font-weight:700;margin:18px 0 8px}
.code{color:#7b8794;font-size:14px}
"""


def esc(value: object) -> str:
    return "" if value is None else escape(str(value), quote=True)


@dataclass(frozen=True)
class Tag:
    code: str
    label: str
    levels: tuple[int, ...]  # of REASON_LEVELS, where the province lists it


@dataclass(frozen=True)
class FormState:
    """What the rater chose so far (a form sent back with what was missing), or nothing."""

    level: int | None = None
    tags: frozenset[str] = frozenset()
    text: str = ""
    error: str | None = None


@dataclass(frozen=True)
class CaseShown:
    """What the page says about the case: its number and where it was served."""

    project_no: str
    place: str
    code: Mapping[str, str] = field(default_factory=dict)  # p d t k s, sent back with the form


def reason_tags(levels: Mapping[int, Sequence[tuple[str, str]]]) -> list[Tag]:
    """The tags of levels 1 and 2 as one list (a code means the same at every level)."""
    seen: dict[str, Tag] = {}
    for level in REASON_LEVELS:
        for code, label in levels.get(level, ()):
            earlier = seen.get(code)
            found = (*earlier.levels, level) if earlier else (level,)
            seen[code] = Tag(code, label, found)
    return list(seen.values())


def page(title: str, body: str, subtitle: str = "政务服务“好差评”") -> str:
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>"
        f"<main>{body}</main></body></html>\n"
    )


def rating_form(case: CaseShown, tags: Iterable[Tag], state: FormState = FormState()) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{esc(case.code.get(name, ""))}">'
        for name in CODE_FIELDS
    )
    levels = "".join(_level(level, name, state) for level, name in LEVELS)
    chosen_tags = "".join(_tag(tag, state) for tag in tags)
    open_tags = " on" if state.level in REASON_LEVELS else ""
    error = f'<p class="error" role="alert">{esc(state.error)}</p>' if state.error else ""
    body = (
        f'<p class="note">办件编号 {esc(case.project_no)}<br>{esc(case.place)}</p>{error}'
        '<form method="post" accept-charset="utf-8">'
        f"{hidden}<h2>请您对本次服务进行评价</h2>{levels}"
        f'<fieldset class="tags{open_tags}"><legend>请选择不满意的原因（至少一项，或填写文字）'
        f"</legend>{chosen_tags}</fieldset>"
        '<label class="text" for="text">文字评价（选填）</label>'
        f'<textarea id="text" name="writingEvaluation" maxlength="{MAX_TEXT}">'
        f"{esc(state.text)}</textarea>"
        '<button type="submit">提交评价</button></form>'
    )
    return page("服务评价", body)


def _level(level: int, name: str, state: FormState) -> str:
    checked = " checked" if state.level == level else ""
    return (
        f'<input class="lv" type="radio" name="satisfaction" value="{level}" id="lv{level}"'
        f' required{checked}><label class="lv" for="lv{level}">{esc(name)}</label>'
    )


def _tag(tag: Tag, state: FormState) -> str:
    chosen = tag.code in state.tags
    classes = " ".join(["tag", *(f"t{level}" for level in tag.levels), *(["on"] if chosen else [])])
    checked = " checked" if chosen else ""
    return (
        f'<label class="{classes}"><input type="checkbox" name="evalDetail"'
        f' value="{esc(tag.code)}"{checked}>{esc(tag.label)}</label>'
    )


def thanks(case: CaseShown, level: int) -> str:
    body = (
        '<p class="big">感谢您的评价！</p>'
        f'<p class="note">办件编号 {esc(case.project_no)}<br>'
        f"您的评价：{esc(LEVEL_NAMES[level])}</p>"
        "<p>您的评价已提交至政务服务“好差评”系统。</p>"
    )
    return page("评价成功", body)


def refusal(title: str, why: str, code: str) -> str:
    body = f'<p class="big">{esc(title)}</p><p>{esc(why)}</p><p class="code">{esc(code)}</p>'
    return page(title, body)
