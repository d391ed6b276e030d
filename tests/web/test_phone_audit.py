"""完整号码查看 on the web screens: the queue pages and the printed 交办单 that show
callers' full numbers leave one audit line per page view, naming the orders."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.test_audit import last, lines


async def test_queue_pages_and_print_audit_the_numbers_they_show(api: Api, browser):
    waiting = (await api.register(caller_phone="13911112222"))["number"]
    returned = (await api.register(caller_phone="13933334444"))["number"]
    await api.act("dispatcher", returned, "dispatch", unit="ZJJ")
    await api.act("zjj", returned, "return", reason="不属于本单位职责")

    await browser.login("dispatcher")
    page = await (await browser.client.get("/web/dispatch")).text()
    assert "13911112222" in page and "13933334444" in page
    line = await last(api, "phone.view")
    assert (line["subject"], line["detail"]["where"]) == ("dispatcher", "web.dispatch")
    assert sorted(line["detail"]["objects"]) == sorted([waiting, returned])

    await browser.login("supervisor")
    await browser.client.get("/web/supervise")
    await browser.client.get(f"/web/orders/{returned}/print")
    line = await last(api, "phone.view")
    assert (line["subject"], line["object"], line["detail"]["where"]) == (
        "supervisor",
        returned,
        "web.print",
    )

    # a unit sees masked numbers: its pages leave nothing
    before = len(await lines(api, type="phone.view"))
    await browser.login("zjj")
    page = await (await browser.client.get(f"/web/orders/{returned}/print")).text()
    assert "13933334444" not in page
    assert len(await lines(api, type="phone.view")) == before
