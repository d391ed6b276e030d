"""CSV and XLSX files of KPI tables and order lists, with Chinese column headers.

The cells hold exactly the numbers the API answers (rates as fractions 0–1; XLSX
shows them as percentages through the cell format only, the value is unchanged), so a
file read back equals the JSON. CSV is UTF-8 with a byte-order mark, which Excel needs
to read Chinese text. Building a file is CPU work: callers run it off the event loop.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from stats.domain import DIMENSION_LABELS, KPIS, Dimension, KpiKind

# A text cell starting with one of these is read as a formula by spreadsheet programs
# (CSV/formula injection, OWASP): citizens write order contents, addresses and titles,
# and a supervisor opens the file.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"
_FORMATS = {KpiKind.RATE: "0.00%", KpiKind.SCORE: "0.0000", KpiKind.SECONDS: "0.0"}


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    number_format: str | None = None


@dataclass(frozen=True)
class Table:
    title: str
    columns: Sequence[Column]
    rows: Sequence[Mapping[str, Any]]

    def values(self) -> list[list[Any]]:
        return [[row.get(c.key) for c in self.columns] for row in self.rows]


def kpi_table(dimension: Dimension, rows: Sequence[Mapping[str, Any]]) -> Table:
    label = DIMENSION_LABELS[dimension]
    columns = [Column("key", f"{label}编码"), Column("name", f"{label}名称")]
    columns += [Column(k.name, k.label, _FORMATS[k.kind]) for k in KPIS]
    if dimension == Dimension.AGENT:  # 质检 (stats.queries.qa_kpis)
        columns += [Column("qa_score", "质检平均分", "0.00"), Column("qa_reviews", "质检条数")]
    return Table(f"{label}考核指标", columns, rows)


ORDER_COLUMNS = (
    Column("number", "工单编号"),
    Column("created_at", "登记时间"),
    Column("hotline", "热线"),
    Column("channel", "渠道"),
    Column("type", "诉求类型"),
    Column("urgency", "紧急程度"),
    Column("state", "状态"),
    Column("category", "分类"),
    Column("district", "区域"),
    Column("address", "地址"),
    Column("lead_unit", "主办单位"),
    Column("dispatched_at", "派单时间"),
    Column("accept_due", "签收时限"),
    Column("accepted_at", "签收时间"),
    Column("finish_due", "办结时限"),
    Column("replied_at", "答复时间"),
    Column("closed_at", "办结时间"),
    Column("extensions", "延期次数"),
    Column("return_count", "退单次数"),
    Column("reopen_count", "重办次数"),
    Column("satisfaction", "满意度"),
    Column("resolved", "是否解决"),
    Column("title", "标题"),
    Column("content", "诉求内容"),
)


def order_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    return Table("工单明细", ORDER_COLUMNS, rows)


def to_csv(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.header for c in table.columns])
    for values in table.values():
        writer.writerow(["" if v is None else _csv_value(v) for v in values])
    return out.getvalue().encode("utf-8-sig")


def _csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value  # the quote prefix spreadsheets show as "this is text"
    return repr(value) if isinstance(value, float) else value


def to_xlsx(table: Table) -> bytes:
    """One sheet, header row in bold and frozen; write-only, so long lists stay cheap."""
    return to_xlsx_book([table])


def to_xlsx_book(tables: Sequence[Table]) -> bytes:
    """One sheet per table, in order, named by its title."""
    book = Workbook(write_only=True)
    for table in tables:
        _sheet(book, table)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet(book: Workbook, table: Table) -> None:
    sheet = book.create_sheet(table.title[:31])
    sheet.freeze_panes = "A2"
    header = []
    for column in table.columns:
        cell = WriteOnlyCell(sheet, value=column.header)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    formatted = [c.number_format for c in table.columns]
    for values in table.values():
        row = []
        for value, number_format in zip(values, formatted, strict=True):
            if isinstance(value, bool):
                value = "是" if value else "否"
            if isinstance(value, str) and value.startswith(FORMULA_START):
                row.append(_text_cell(sheet, value))
            elif number_format and value is not None:
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = number_format
                row.append(cell)
            else:
                row.append(value)
        sheet.append(row)


def _text_cell(sheet, value: str) -> WriteOnlyCell:
    """A cell that holds ``value`` as text, never as a formula: openpyxl would otherwise
    store a leading ``=`` as ``<f>``; the quote prefix keeps it text when edited too."""
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell
