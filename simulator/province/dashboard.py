"""The officer's read-only page at `/`: devices, latest ratings, 差评 with their tags, and
satisfaction per staff member and per item. Server-rendered; every value is escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from simulator.province.devices import beijing_time
from simulator.province.event_store import EventStore
from simulator.province.reports import DeviceRow, RatingRow, Reports, Satisfaction

LEVEL_LABELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
SOURCE_LABELS = {"keypad": "按键", "touch": "触屏", "web": "网页", "qr": "扫码（手机）"}
LATEST_LIMIT = 50
STALE_HEARTBEATS = 3  # a device is shown as silent after this many missed heartbeats

STYLE = """
body{font-family:"Noto Sans CJK SC","Noto Sans SC","Microsoft YaHei",sans-serif;margin:0;
background:#f4f6f9;color:#1f2933;font-size:14px}
header{background:#b71c1c;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.85}
main{padding:16px 24px}
section{background:#fff;border-radius:6px;box-shadow:0 1px 3px rgba(0,0,0,.12);
margin-bottom:18px;padding:12px 16px}
h2{font-size:17px;margin:4px 0 10px;border-left:4px solid #b71c1c;padding-left:8px}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #e4e7eb;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f5;font-weight:600;white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;gap:14px;flex-wrap:wrap}
.card{flex:1;min-width:150px;background:#fff;border-radius:6px;padding:12px 16px;
box-shadow:0 1px 3px rgba(0,0,0,.12)}
.card b{display:block;font-size:26px}
.lv{padding:1px 8px;border-radius:10px;color:#fff;white-space:nowrap}
.lv5{background:#2e7d32}.lv4{background:#66a84a}.lv3{background:#9e9d24}
.lv2{background:#ef6c00}.lv1{background:#c62828}
.tag{display:inline-block;background:#fdecea;color:#b71c1c;border-radius:3px;padding:0 6px;
margin:1px 2px}
.warn{color:#c62828;font-weight:600}.muted{color:#7b8794}.nw{white-space:nowrap}
footer{color:#7b8794;padding:0 24px 20px;font-size:12px}
"""


def esc(value: Any) -> str:
    return "" if value is None else escape(str(value), quote=True)


@dataclass(frozen=True)
class DashboardData:
    now: float
    tags_version: str
    heartbeat_seconds: int
    labels: Mapping[str, str]  # tag code → label
    overall: Satisfaction
    devices: list[DeviceRow]
    latest: list[RatingRow]
    bad: list[RatingRow]
    staff: list[Satisfaction]
    items: list[Satisfaction]
    faults: Mapping[str, Any]
    requests: int
    case_events: CaseEventFigures | None = None


@dataclass(frozen=True)
class CaseEventFigures:
    """Cases that ended unrated, per staff member, and ratings flagged for suppression."""

    per_staff: list[dict[str, Any]]
    suppressions: list[dict[str, Any]]
    chain_flags: list[dict[str, Any]]


def case_events(events: EventStore) -> CaseEventFigures:
    return CaseEventFigures(events.per_staff(), events.suppressions(), events.chain_flags())


def gather(reports: Reports, **settings: Any) -> DashboardData:
    """Read what the page shows; *settings* are the other DashboardData fields."""
    return DashboardData(
        overall=reports.overall(),
        devices=reports.devices(),
        latest=reports.latest_ratings(LATEST_LIMIT),
        bad=reports.bad_ratings(LATEST_LIMIT),
        staff=reports.by_staff(),
        items=reports.by_item(),
        **settings,
    )


def render(data: DashboardData) -> str:
    total, bad_total = data.overall.total, data.overall.counts[1] + data.overall.counts[2]
    sections = (
        _summary(data),
        _section("devices", "设备", _devices_table(data)),
        _section("bad", _shown("差评", len(data.bad), bad_total), _bad_table(data)),
        _section("latest", _shown("最新评价", len(data.latest), total), _latest_table(data)),
        _section("staff", "按工作人员统计", _satisfaction_table(data.staff, "工号", "姓名")),
        _section("items", "按事项统计", _satisfaction_table(data.items, "事项名称", "事项编码")),
        _section("case-events", "未评价办件（按工作人员）", _events_table(data)),
        _section("suppressions", "疑似压制差评（待复核）", _suppression_table(data)),
    )
    faults = "、".join(data.faults) or "无"
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>好差评 · 省级平台（模拟）</title><style>{STYLE}</style></head><body>"
        "<header><h1>政务服务“好差评” · 省级平台（模拟）</h1>"
        f"<p>更新于 {esc(beijing_time(data.now))}（北京时间） · 标签版本 "
        f"{esc(data.tags_version)}</p></header><main>{''.join(sections)}</main>"
        f"<footer>模拟服务端 · 设备请求 {data.requests} 次 · 故障开关：{esc(faults)}</footer>"
        "</body></html>\n"
    )


def _shown(title: str, shown: int, total: int) -> str:
    return (
        f"{title}（共 {total} 条）"
        if shown == total
        else f"{title}（共 {total} 条，显示最新 {shown} 条）"
    )


def _section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{section_id}"><h2>{esc(title)}</h2>{body}</section>'


def _table(headers: Iterable[str], rows: list[str], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{esc(empty)}</p>'
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _row(*cells: str) -> str:
    return "<tr>" + "".join(cells) + "</tr>"


def _td(value: Any, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f"<td{cls}>{esc(value)}</td>"


def _raw_td(html: str, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f"<td{cls}>{html}</td>"


def _level(level: Any) -> str:
    label = LEVEL_LABELS.get(level) if isinstance(level, int) else None
    if label is None:
        return esc(level)
    return f'<span class="lv lv{level}">{esc(label)}</span>'


def _summary(data: DashboardData) -> str:
    overall = data.overall
    cards = (
        ("评价总数", str(overall.total)),
        ("满意率（满意及以上）", f"{overall.satisfied_pct:.1f}%"),
        ("差评", str(overall.counts[1] + overall.counts[2])),
        ("设备", str(len(data.devices))),
    )
    body = "".join(f'<div class="card">{esc(name)}<b>{esc(v)}</b></div>' for name, v in cards)
    return f'<div class="cards" id="summary">{body}</div><br>'


def _site(site: Mapping[str, Any]) -> str:
    parts = [site.get("areaCode"), site.get("hallCode")]
    if site.get("windowNo"):
        parts.append(f"{site['windowNo']} 号窗口")
    if site.get("terminalNo"):
        parts.append(f"终端 {site['terminalNo']}")
    return " · ".join(str(p) for p in parts if p)


def _yes_no(value: Any, yes: str, no: str) -> str:
    if value is None:
        return '<span class="muted">—</span>'
    return esc(yes) if value else f'<span class="warn">{esc(no)}</span>'


def _heartbeat_cell(device: DeviceRow, data: DashboardData) -> str:
    if device.heartbeat_at is None:
        return '<span class="muted">从未</span>'
    when = esc(beijing_time(device.heartbeat_at))
    if data.now - device.heartbeat_at > STALE_HEARTBEATS * data.heartbeat_seconds:
        return f'{when} <span class="warn">（已失联）</span>'
    return when


def _devices_table(data: DashboardData) -> str:
    rows = []
    for device in data.devices:
        beat = device.heartbeat or {}
        flags_css = "n warn" if device.audit_flags else "n"
        rows.append(
            _row(
                _td(device.device_id, "nw"),
                _td(device.serial),
                _td(_site(device.site)),
                _raw_td(_heartbeat_cell(device, data)),
                _td(beat.get("backlog"), "n"),
                _td(beat.get("quarantined"), "n"),
                _raw_td(_yes_no(beat.get("keypadConnected"), "已连接", "未连接")),
                _raw_td(_yes_no(beat.get("clockSynced"), "已同步", "未同步")),
                _td(beat.get("firmwareVersion")),
                _td(device.evaluations, "n"),
                _td(device.audit_flags, flags_css),
            )
        )
    headers = ("设备编号", "序列号", "站点", "最后心跳", "积压", "隔离", "键盘", "时钟")
    return _table((*headers, "固件", "评价数", "审计标记"), rows, "尚无设备注册")


def _case(record: Mapping[str, Any]) -> str:
    cases = record.get("batchProjectNos") or []
    more = f"（批量 {len(cases)} 件）" if len(cases) > 1 else ""
    return f"{esc(record.get('projectNo'))}{esc(more)}"


def _assess_time(record: Mapping[str, Any]) -> str:
    late = "" if record.get("clockSynced") else ' <span class="warn">（时钟未同步）</span>'
    return f"{esc(record.get('assessTime'))}{late}"


def _rating_cells(record: Mapping[str, Any]) -> list[str]:
    return [
        _raw_td(_assess_time(record), "nw"),
        _td(record.get("taskName")),
        _raw_td(_case(record)),
        _td(record.get("proManagerNo") or "—"),
        _td(record.get("proManager") or "—"),
        _raw_td(_level(record.get("satisfaction"))),
    ]


def _latest_table(data: DashboardData) -> str:
    rows = []
    for row in data.latest:
        record = row.record
        raw = record.get("source", "")
        source = SOURCE_LABELS.get(raw, raw)
        rows.append(_row(*_rating_cells(record), _td(source, "nw"), _device_cell(record)))
    headers = ("评价时间", "事项", "办件编号", "工号", "工作人员", "评价", "来源", "设备")
    return _table(headers, rows, "尚未收到评价")


def _tags(codes: Iterable[Any], label_of: Callable[[str], str]) -> str:
    return "".join(f'<span class="tag">{esc(label_of(str(code)))}</span>' for code in codes)


def _bad_table(data: DashboardData) -> str:
    def label_of(code: str) -> str:
        label = data.labels.get(code)
        return f"{label}（{code}）" if label else code

    rows = []
    for row in data.bad:
        record = row.record
        tags = _tags(record.get("evalDetail") or [], label_of)
        text = _td(record.get("writingEvaluation") or "")
        rows.append(_row(*_rating_cells(record), _raw_td(tags), text, _device_cell(record)))
    headers = ("评价时间", "事项", "办件编号", "工号", "工作人员", "评价", "标签", "文字评价")
    return _table((*headers, "设备"), rows, "暂无差评")


def _device_cell(record: Mapping[str, Any]) -> str:
    """The device that signed the rating; for a QR rating (made at the province, signed by no
    device) the device whose code the rater scanned."""
    code = record.get("rateLaterCode")
    if record.get("source") == "qr" and isinstance(code, Mapping):
        return _raw_td(f'{esc(code.get("deviceId"))} <span class="muted">（二维码）</span>', "nw")
    return _td(record.get("deviceId"), "nw")


def _satisfaction_table(groups: list[Satisfaction], key_name: str, name_name: str) -> str:
    rows = []
    for group in groups:
        counts = [_td(group.counts[level], "n") for level in (5, 4, 3, 2, 1)]
        bad_css = "n warn" if group.bad_pct else "n"
        rows.append(
            _row(
                _td(group.key if group.key is not None else "—（自助终端）"),
                _td(group.name or "—"),
                *counts,
                _td(group.total, "n"),
                _td(f"{group.satisfied_pct:.1f}%", "n"),
                _td(f"{group.bad_pct:.1f}%", bad_css),
            )
        )
    levels = [LEVEL_LABELS[level] for level in (5, 4, 3, 2, 1)]
    headers = (key_name, name_name, *levels, "合计", "满意率", "差评率")
    return _table(headers, rows, "尚未收到评价")


def _events_table(data: DashboardData) -> str:
    figures = data.case_events
    rows = [
        _row(
            _td(s["proManagerNo"] or "-"),
            _td(s["proManager"] or "-"),
            _td(s["notRated"]),
            _td(s["noReason"]),
            _td(s["badPressed"]),
        )
        for s in (figures.per_staff if figures else [])
    ]
    headers = ("工号", "姓名", "未评价办件", "差评未选原因", "按下差评未成评价")
    return _table(headers, rows, "暂无未评价办件")


def _suppression_table(data: DashboardData) -> str:
    figures = data.case_events
    rows = [
        _row(
            _td(s["projectNo"]),
            _td(s["kind"]),
            _td(s["levelPressed"]),
            _td(s["endedAt"]),
            _td(s["proManager"] or "-"),
            _td(s["evaluationId"]),
            _td(s["assessTime"]),
        )
        for s in (figures.suppressions if figures else [])
    ]
    rows += [
        _row(_td(f["eventId"]), _td(f["kind"]), _td(f["eventSeq"]), _td(f["detail"]))
        for f in (figures.chain_flags if figures else [])
    ]
    headers = ("办件编号", "结束方式", "按下等级", "结束时间", "工作人员", "其后评价", "评价时间")
    return _table(headers, rows, "无")
