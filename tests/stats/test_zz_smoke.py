from tests.stats.conftest import *  # noqa


async def test_smoke(api, clock):
    o = await api.register()
    await api.act("dispatcher", o["number"], "dispatch", unit="CGJ")
    o2 = await api.register()
    await api.act("agent", o2["number"], "answer", text="已答复")
    for g in ["unit", "hotline", "category", "district", "channel", "agent"]:
        r = await api.call(
            "GET", f"/api/v1/stats/kpis?from=2026-11-01&to=2026-12-01&group_by={g}", "supervisor"
        )
        print(g, r)
    r = await api.call(
        "GET", "/api/v1/stats/kpis?from=2026-11-01&to=2026-12-01&include_sub_units=true", "zjj"
    )
    print(r)
    r = await api.call("GET", "/api/v1/stats/ranking?from=2026-11-01&to=2026-12-01", "supervisor")
    print(r)
    r = await api.call("GET", "/api/v1/stats/hotspots?from=2026-11-01&to=2026-12-01", "supervisor")
    print(r)
    r = await api.client.get(
        "/api/v1/stats/kpis.xlsx?from=2026-11-01&to=2026-12-01",
        headers={"Authorization": "Bearer " + api.tokens["supervisor"]},
    )
    print(r.status, r.headers, len(await r.read()))
    r = await api.client.get(
        "/api/v1/stats/orders.csv?from=2026-11-01&to=2026-12-01",
        headers={"Authorization": "Bearer " + api.tokens["supervisor"]},
    )
    print(r.status, (await r.read()).decode("utf-8-sig"))
    await api.call(
        "GET", "/api/v1/stats/kpis?from=2026-12-01&to=2026-11-01", "supervisor", expect=400
    )
    await api.call("GET", "/api/v1/stats/kpis?from=x&to=2026-11-01", "supervisor", expect=400)
    await api.call(
        "GET",
        "/api/v1/stats/kpis?from=2026-11-01&to=2026-12-01&group_by=foo",
        "supervisor",
        expect=400,
    )
    await api.call("GET", "/api/v1/stats/kpis?from=2026-11-01&to=2026-12-01", "agent", expect=403)
