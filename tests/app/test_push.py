from app.push import QUEUE_SIZE, PushHub


async def test_events_reach_every_listener_of_the_user_only():
    hub = PushHub()
    with hub.subscribe(1) as first, hub.subscribe(1) as second, hub.subscribe(2) as other:
        assert hub.publish(1, {"type": "call", "caller": "138"}) == 2
        assert first.get_nowait() == second.get_nowait() == {"type": "call", "caller": "138"}
        assert other.empty()
    assert not hub.listening(1)
    assert hub.publish(1, {"type": "call"}) == 0


async def test_a_slow_listener_loses_the_oldest_events_not_the_publisher():
    hub = PushHub()
    with hub.subscribe(7) as queue:
        for n in range(QUEUE_SIZE + 5):
            hub.publish(7, {"n": n})
        assert queue.qsize() == QUEUE_SIZE
        assert queue.get_nowait() == {"n": 5}
