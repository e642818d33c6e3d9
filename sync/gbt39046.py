"""The monthly export's row: evaluation data items as GB/T 39046-2020 names them, with its
satisfaction codes (table A.8: 1 = 非常满意 … 5 = 非常不满意, the reverse of the wire codes).

Pure. Personal data (name, certificate type) is not exported; certKey, already the
province's hash, is.
"""

from __future__ import annotations

import json
from typing import Any

# column (Chinese name as in the standard's evaluation data items), taken from the record
COLUMNS: list[tuple[str, str]] = [
    ("评价编号", "evaluationId"),
    ("设备编号", "deviceId"),
    ("评价序号", "seq"),
    ("办件编号", "projectNo"),
    ("批量办件编号", "batchProjectNos"),
    ("事项编码", "taskCode"),
    ("事项名称", "taskName"),
    ("办件状态", "proStatus"),
    ("评价渠道", "pf"),
    ("行政区划代码", "areaCode"),
    ("部门编码", "deptCode"),
    ("大厅编码", "hallCode"),
    ("窗口编号", "windowNo"),
    ("终端编号", "terminalNo"),
    ("工作人员工号", "proManagerNo"),
    ("工作人员姓名", "proManager"),
    ("评价等级", "satisfaction"),
    ("业务评价", "indicators.business"),
    ("服务评价", "indicators.service"),
    ("主题服务", "theme"),
    ("评价标签", "evalDetail"),
    ("文字评价", "writingEvaluation"),
    ("评价时间", "assessTime"),
    ("时钟已同步", "clockSynced"),
    ("评价次数", "assessNumber"),
    ("评价方式", "source"),
    ("反应时间毫秒", "reactionMs"),
    ("评价人类型", "userProp"),
    ("评价人证件摘要", "certKey"),
    ("上条摘要", "prevHash"),
    ("签名密钥", "keyId"),
    ("签名", "signature"),
]
LEVEL_FIELDS = ("satisfaction", "indicators.business", "indicators.service")


def standard_level(wire_level: int) -> int:
    """Wire 5 = 非常满意 becomes the standard's 1, and so on."""
    if not 1 <= wire_level <= 5:
        raise ValueError(f"satisfaction must be 1-5, got {wire_level}")
    return 6 - wire_level


def _value(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _cell(path: str, value: Any) -> str:
    if value is None:
        return ""
    if path in LEVEL_FIELDS:
        return str(standard_level(int(value)))
    if path == "theme":
        items = [
            {
                **item,
                "satisfaction": None
                if item["satisfaction"] is None
                else standard_level(item["satisfaction"]),
            }
            for item in value["items"]
        ]
        return json.dumps({**value, "items": items}, ensure_ascii=False, sort_keys=True)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


def header() -> list[str]:
    return [name for name, _ in COLUMNS]


def row(record: dict[str, Any]) -> list[str]:
    return [_cell(path, _value(record, path)) for _, path in COLUMNS]
