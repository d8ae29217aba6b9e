"""The simulator's deliveries: realistic sessions, both envelopes, documented fields and traps."""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from schemas.envelope import Envelope, identify
from simulator.delivery import Delivery, DeliveryKind, Fault
from simulator.faults import FaultRates
from simulator.stream import StreamConfig, deliveries

# The per-event fields of tapcart-events.md, copied here so that the test
# checks the simulator against the reference, not against itself.
DOCUMENTED_EVENT_PROPERTIES = {
    "AppInstalled": {"event_id", "source"},
    "AppOpened": {
        "event_id",
        "app_open_source",
        "notification_id",
        "notification_type",
        "segment_id",
    },
    "AddedToCart": {
        "source",
        "product_id",
        "product_title",
        "product_type",
        "variant_id",
        "variant_name",
        "variant_price",
        "event_id",
        "cart_add_source",
        "cart_add_type",
        "collection_id",
        "collection_title",
        "multi_currency_code",
        "cart_total_price",
        "cart_total_items",
        "cart_total_items_list",
        "product_badge_titles_list",
        "product_badge_ids_list",
        "product_badge_positioning_list",
        "custom_block_id",
        "custom_block_source_url",
    },
    "ProductViewed": {
        "source",
        "event_id",
        "collection_id",
        "product_id",
        "product_title",
        "product_type",
        "product_price",
        "product_view_source",
        "collection_title",
        "multi_currency_code",
        "product_tags_list",
        "product_badge_titles_list",
        "product_badge_ids_list",
        "product_badge_positioning_list",
        "custom_block_id",
        "custom_block_source_url",
    },
    "CartUpdated": {
        "event_id",
        "quantity_updated",
        "variant_options_updated",
        "product_id",
        "variant_name",
        "variant_id",
        "cart_id",
        "product_title",
        "product_type",
        "variant_price",
        "collection_id",
        "collection_title",
        "multi_currency_code",
        "product_tags_list",
        "cart_total_price",
        "cart_total_items",
        "cart_total_items_list",
        "cart_total_product_id_list",
        "product_badge_titles_list",
        "product_badge_ids_list",
        "product_badge_positioning_list",
        "update_type",
        "cart_update_source",
    },
    "CheckoutCreated": {
        "source",
        "event_id",
        "currency_code",
        "checkout_type",
        "checkout_id",
        "checkout_amount",
        "checkout_source_type",
        "checkout_source_id",
        "checkout_source_title",
        "multi_currency_code",
        "checkout_total_items",
        "checkout_subtotal",
        "checkout_items_list",
        "total_discount_amount",
        "total_gift_card_amount_applied",
        "cart_id",
    },
    "OrderCreated": {"order_id", "checkout_id", "currency_code", "total_price"},
}
GROUPS = {
    "device_properties": "DeviceProperties",
    "session_properties": "SessionProperties",
    "event_properties": "EventProperties",
    "shopify_properties": "ShopifyProperties",
    "app_properties": "AppProperties",
}
CLICKSTREAM_NAMES = {
    "applicationInstalled",
    "applicationOpened",
    "cartAdd",
    "cartRemove",
    "cartUpdated",
    "checkoutCreated",
    "collectionViewed",
    "loggedIn",
    "loggedOut",
    "pageView",
    "search",
    "productViewed",
    "purchaseCompleted",
    "pushOpened",
    "wishlistItemAdded",
}


def ticking_clock(start_ms: int = 1_760_000_000_000, step_ms: int = 250) -> Callable[[], int]:
    """A clock that moves forward a fixed step per reading: runs repeat exactly."""
    ticks = itertools.count()
    return lambda: start_ms + next(ticks) * step_ms


def run(
    count: int = 1500, seed: int = 11, duplicates: float = 0.0, malformed: float = 0.0
) -> list[Delivery]:
    faults = FaultRates(duplicates=duplicates, malformed=malformed)
    config = StreamConfig(seed=seed, count=count, faults=faults)
    return list(deliveries(config, ticking_clock()))


@pytest.fixture(scope="module")
def sample() -> list[Delivery]:
    return run(count=3000, seed=11, duplicates=0.1, malformed=0.05)


def events_of(sample: list[Delivery]) -> list[Delivery]:
    return [d for d in sample if d.kind is DeliveryKind.EVENT]


def payload(delivery: Delivery) -> dict[str, Any]:
    loaded = json.loads(delivery.body)
    assert isinstance(loaded, dict)
    return loaded


def group(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name, body.get(GROUPS[name]))
    assert isinstance(value, dict), f"{name} missing from {body['event_type']}"
    return value


def insights(sample: list[Delivery], event_type: str | None = None) -> list[dict[str, Any]]:
    return [
        payload(d)
        for d in events_of(sample)
        if d.envelope is Envelope.INSIGHTS and event_type in (None, d.event_name)
    ]


def test_the_count_is_the_number_of_events_and_indexes_run_in_order() -> None:
    sample = run(count=400, duplicates=0.2, malformed=0.1)
    assert len(events_of(sample)) == 400
    assert [d.index for d in sample] == list(range(len(sample)))


def test_every_event_id_is_unique_except_for_duplicate_deliveries(sample: list[Delivery]) -> None:
    events = events_of(sample)
    ids = [d.event_id for d in events]
    assert len(ids) == len(set(ids))
    by_index = {d.index: d for d in sample}
    duplicates = [d for d in sample if d.kind is DeliveryKind.DUPLICATE]
    assert duplicates
    for duplicate in duplicates:
        assert duplicate.duplicate_of is not None
        original = by_index[duplicate.duplicate_of]
        assert original.kind is DeliveryKind.EVENT
        # The same body and headers, posted later.
        assert (duplicate.body, duplicate.headers) == (original.body, original.headers)
        assert duplicate.event_id == original.event_id
        assert duplicate.index > original.index


def test_every_event_is_an_event_to_the_receivers_contract(sample: list[Delivery]) -> None:
    for delivery in events_of(sample):
        hint = dict(delivery.headers).get("appid")
        identity = identify(payload(delivery), hint)
        assert identity.envelope is delivery.envelope
        assert identity.missing == []
        assert identity.event_id == delivery.event_id
        assert identity.event_name == delivery.event_name


def test_both_envelopes_appear_in_the_configured_share(sample: list[Delivery]) -> None:
    envelopes = Counter(d.envelope for d in events_of(sample))
    clickstream_share = envelopes[Envelope.CLICKSTREAM] / sum(envelopes.values())
    # Sessions, not events, are split 30/70: the share of events wanders a little.
    assert 0.15 < clickstream_share < 0.45


def test_insights_envelope_has_the_documented_top_level_fields(sample: list[Delivery]) -> None:
    bodies = insights(sample)
    assert bodies
    for body in bodies:
        for name in ("event_id", "session_id", "device_id", "app_id", "timestamp_iso"):
            assert isinstance(body[name], str) and body[name]
        assert body["metadata"]["schema_id"] == f"Event_{body['event_type']}_5_0_0"
        assert isinstance(body["timestamp"], int)
        # timestamp is epoch milliseconds, and timestamp_iso the same instant with an offset.
        moment = datetime.fromisoformat(body["timestamp_iso"])
        assert moment.utcoffset() is not None
        assert round(moment.timestamp() * 1000) == body["timestamp"]
        assert group(body, "session_properties")["session_id"] == body["session_id"]
        assert group(body, "device_properties")["device_id"] == body["device_id"]
        assert group(body, "app_properties")["app_id"] == body["app_id"]
        group(body, "shopify_properties")


def test_both_spellings_of_the_property_groups_appear(sample: list[Delivery]) -> None:
    bodies = insights(sample)
    snake = sum("event_properties" in body for body in bodies)
    pascal = sum("EventProperties" in body for body in bodies)
    assert snake > pascal > 0


@pytest.mark.parametrize("event_type", sorted(DOCUMENTED_EVENT_PROPERTIES))
def test_documented_event_properties_are_all_present(
    sample: list[Delivery], event_type: str
) -> None:
    bodies = insights(sample, event_type)
    assert bodies, f"no {event_type} in the sample"
    for body in bodies:
        properties = group(body, "event_properties")
        assert DOCUMENTED_EVENT_PROPERTIES[event_type] <= properties.keys()
        if "event_id" in DOCUMENTED_EVENT_PROPERTIES[event_type]:
            assert properties["event_id"] == body["event_id"]


def test_tapcarts_traps_are_reproduced(sample: list[Delivery]) -> None:
    properties = [group(body, "event_properties") for body in insights(sample)]
    prices = [p["variant_price"] for p in properties if "variant_price" in p]
    counts = [p["cart_total_items"] for p in properties if "cart_total_items" in p]
    # Numbers mostly as strings, sometimes as numbers.
    assert any(isinstance(v, str) for v in prices) and any(isinstance(v, float) for v in prices)
    assert any(isinstance(v, str) and v.isdigit() for v in counts)
    assert any(isinstance(v, int) for v in counts)
    values = [value for p in properties for value in p.values()]
    assert "" in values and None in values and [""] in values
    options = [p["variant_options_updated"] for p in properties if "variant_options_updated" in p]
    assert options and all(isinstance(option, str) for option in options)
    decoded = [json.loads(option) for option in options if option]
    assert any(entry and {"name", "value"} <= entry[0].keys() for entry in decoded)


def test_clickstream_envelope_and_its_headers(sample: list[Delivery]) -> None:
    clickstream = [d for d in events_of(sample) if d.envelope is Envelope.CLICKSTREAM]
    names = Counter(d.event_name for d in clickstream)
    assert set(names) <= CLICKSTREAM_NAMES
    assert {"applicationOpened", "productViewed", "cartAdd", "checkoutCreated"} <= set(names)
    for delivery in clickstream:
        body = payload(delivery)
        assert {"event", "data", "properties", "mp_metadata"} <= body.keys()
        assert body["event"] == delivery.event_name
        assert body["mp_metadata"]["mp_event_id"] == delivery.event_id
        assert body["mp_metadata"]["mp_session_id"] == body["properties"]["session_id"]
        headers = dict(delivery.headers)
        assert headers == {
            "appid": body["properties"]["app_id"],
            "eventtype": body["event"],
            "deviceid": body["properties"]["device_id"],
            "eventid": delivery.event_id,
        }


def test_sessions_tell_a_plausible_story(sample: list[Delivery]) -> None:
    sessions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for body in insights(sample):
        sessions[body["session_id"]].append(body)
    assert len(sessions) > 50
    openers = {"AppInstalled", "PushNotificationReceived", "AppOpened"}
    for bodies in sessions.values():
        kinds = [body["event_type"] for body in bodies]
        assert kinds[0] in openers
        timestamps = [body["timestamp"] for body in bodies]
        assert timestamps == sorted(timestamps)
        assert len({body["device_id"] for body in bodies}) == 1
        if "AddedToCart" in kinds:
            assert kinds.index("ProductViewed") < kinds.index("AddedToCart")
        if "OrderCreated" in kinds:
            assert kinds.index("CheckoutCreated") < kinds.index("OrderCreated")
    # Concurrent users: the sessions interleave rather than follow one another.
    order = [body["session_id"] for body in insights(sample)[:200]]
    switches = sum(a != b for a, b in itertools.pairwise(order))
    assert switches > 100


def test_a_device_runs_one_session_at_a_time(sample: list[Delivery]) -> None:
    spans: dict[str, tuple[str, int, int]] = {}
    for body in insights(sample):
        sid = body["session_id"]
        first = spans.get(sid, (body["device_id"], body["timestamp"], body["timestamp"]))
        spans[sid] = (first[0], first[1], body["timestamp"])
    by_device: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for device, start, end in spans.values():
        by_device[device].append((start, end))
    for windows in by_device.values():
        windows.sort()
        for (_, end), (start, _) in itertools.pairwise(windows):
            assert start >= end


def test_the_seed_reproduces_the_run() -> None:
    first = run(count=300, seed=5, duplicates=0.1, malformed=0.1)
    again = run(count=300, seed=5, duplicates=0.1, malformed=0.1)
    other = run(count=300, seed=6, duplicates=0.1, malformed=0.1)
    assert [(d.kind, d.body, d.headers) for d in first] == [
        (d.kind, d.body, d.headers) for d in again
    ]
    assert {d.event_id for d in first}.isdisjoint({d.event_id for d in other} - {None})


def test_fault_fractions_do_not_change_the_events() -> None:
    clean = run(count=300, seed=9)
    faulty = run(count=300, seed=9, duplicates=0.3, malformed=0.3)
    assert [d.body for d in events_of(faulty)] == [d.body for d in clean]


def test_fault_fractions_are_roughly_honoured(sample: list[Delivery]) -> None:
    kinds = Counter(d.kind for d in sample)
    assert 200 < kinds[DeliveryKind.DUPLICATE] < 400  # 10 % of 3000
    assert 90 < kinds[DeliveryKind.MALFORMED] < 210  # 5 % of 3000
    assert all(d.kind is DeliveryKind.EVENT for d in run(count=200, seed=3))


def test_malformed_bodies_are_what_the_receiver_must_refuse(sample: list[Delivery]) -> None:
    malformed = [d for d in sample if d.kind is DeliveryKind.MALFORMED]
    faults = Counter(d.fault for d in malformed)
    assert set(faults) == set(Fault)
    event_ids = {d.event_id for d in events_of(sample)}
    for delivery in malformed:
        assert delivery.event_id is None
        # A fresh id: no malformed body can be mistaken for an event that was delivered.
        assert not any(str(eid) in delivery.body.decode() for eid in event_ids)
        if delivery.fault is Fault.INVALID_JSON:
            with pytest.raises(json.JSONDecodeError):
                json.loads(delivery.body)
        elif delivery.fault is Fault.NOT_AN_OBJECT:
            assert not isinstance(json.loads(delivery.body), dict)
        else:
            body = json.loads(delivery.body)
            assert isinstance(body, dict)
            assert identify(body, dict(delivery.headers).get("appid")).event_id is None
            assert "eventid" not in dict(delivery.headers)


def test_fault_fractions_must_be_fractions() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultRates(duplicates=1.5)
