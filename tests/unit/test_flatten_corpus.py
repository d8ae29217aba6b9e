"""`flatten` over the fixture corpus: exact rows for the documented events, and
for every fixture the problems `tests/fixtures/manifest.json` says it has.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

import schemas
from pipeline.flatten import flatten
from schemas.catalog import EVENT_COLUMNS, EVENT_TYPES, BigQueryType, Mode
from schemas.envelope import identify
from schemas.row_check import validate_row

FIXTURES = Path(__file__).parents[1] / "fixtures"
PAYLOADS = FIXTURES / "payloads"
MANIFEST: dict[str, Any] = orjson.loads((FIXTURES / "manifest.json").read_bytes())
RECEIVED = datetime(2023, 8, 15, 18, 52, 0, tzinfo=UTC)
RECEIVED_TEXT = "2023-08-15T18:52:00.000000Z"
EVENTS_SCHEMA = schemas.load_table_schema("events")
JSON_COLUMNS = {column.name for column in EVENT_COLUMNS if column.type is BigQueryType.JSON}

EMPTY_ROW: dict[str, object] = {
    column.name: [] if column.mode is Mode.REPEATED else None for column in EVENT_COLUMNS
}
INSIGHTS_DEVICE_EXTRA = {
    "os": "iOS",
    "os_version": "16.5.1",
    "model": "iPhone14,2",
    "locale": "en_US",
}
INSIGHTS_SHOPIFY_EXTRA = {"shop_domain": "example-store.myshopify.com", "customer_id": ""}
CLICKSTREAM_CONTEXT_EXTRA = {
    "platform": "ios",
    "app_version": "6.1.0",
    "locale": "en_US",
}


def load(name: str) -> object:
    return orjson.loads((PAYLOADS / name).read_bytes())


def flat(name: str, **options: Any) -> tuple[dict[str, object], list[str]]:
    row, problems = flatten(load(name), RECEIVED, keep_payload=False, **options)
    return decoded(row), sorted(problem.kind for problem in problems)


def decoded(row: dict[str, object]) -> dict[str, object]:
    """JSON columns decoded, so rows compare by value rather than by key order."""
    return {
        name: orjson.loads(value) if name in JSON_COLUMNS and isinstance(value, str) else value
        for name, value in row.items()
    }


def insights_row(number: int, event_type: str, display: str, event_time: str) -> dict[str, object]:
    """The columns every Insights fixture of the corpus shares (see its envelope)."""
    return {
        **EMPTY_ROW,
        "event_id": f"evt-{number:04d}-7c1e-4b9a-9f3d-2a6b8c0d1e{number:02d}",
        "event_name": event_type,
        "event_display_name": display,
        "app_id": "app_5f2b1c",
        "envelope": "insights",
        "schema_id": f"Event_{event_type}_5_0_0",
        "session_id": "ses-91a4c2",
        "device_id": "dev-3b7f0e",
        "ip": "203.0.113.7",
        "event_time": event_time,
        "event_time_source": "timestamp",
        "timestamp_ms": 1692125466000 + number * 1000,
        "timestamp_iso": "2023-08-15T11:51:06.000-07:00",
        "received_at": RECEIVED_TEXT,
        "session_source": "direct",
        "device_extra": INSIGHTS_DEVICE_EXTRA,
        "shopify_extra": INSIGHTS_SHOPIFY_EXTRA,
        "app_extra": {"app_version": "5.12.0"},
    }


def test_app_installed() -> None:
    row, problems = flat("insights_app_installed.json")
    assert problems == []
    assert row == {
        **insights_row(1, "AppInstalled", "App Installed", "2023-08-15T18:51:07.000000Z"),
        "event_source": "app_store",
    }


def test_app_opened() -> None:
    row, problems = flat("insights_app_opened.json")
    assert problems == []
    assert row == {
        **insights_row(2, "AppOpened", "App Opened", "2023-08-15T18:51:08.000000Z"),
        "event_app_open_source": "push_notification",
        "event_notification_id": "ntf_7781",
        "event_notification_type": "campaign",
        "event_segment_id": "seg_vip",
    }


def test_added_to_cart_numbers_in_strings_and_empty_values() -> None:
    row, problems = flat("insights_added_to_cart.json")
    assert problems == []
    assert row == {
        **insights_row(3, "AddedToCart", "Added to Cart", "2023-08-15T18:51:09.000000Z"),
        "event_source": "product_detail",
        "event_product_id": "8072647213337",
        "event_product_title": "Linen Shirt",
        "event_product_type": "Shirts",
        "event_variant_id": "44026431144217",
        "event_variant_name": "M / Sand",
        "event_variant_price": 79.99,
        "event_cart_add_source": "pdp_button",
        "event_cart_add_type": "single",
        "event_collection_id": "412331737369",
        "event_collection_title": "Summer",
        "event_multi_currency_code": "USD",
        "event_cart_total_price": 159.98,
        "event_cart_total_items": 2,
        "event_cart_total_items_list": [],
        "event_product_badge_titles_list": ["New", "Bestseller"],
        "event_product_badge_ids_list": ["b_1", "b_7"],
        "event_product_badge_positioning_list": ["top_left", "top_right"],
    }


def test_product_viewed_empty_badge_lists() -> None:
    row, problems = flat("insights_product_viewed.json")
    assert problems == []
    assert row == {
        **insights_row(4, "ProductViewed", "Product Viewed", "2023-08-15T18:51:10.000000Z"),
        "event_source": "collection",
        "event_collection_id": "412331737369",
        "event_product_id": "8072647213337",
        "event_product_title": "Linen Shirt",
        "event_product_type": "Shirts",
        "event_product_price": 79.99,
        "event_product_view_source": "collection_grid",
        "event_collection_title": "Summer",
        "event_multi_currency_code": "USD",
        "event_product_tags_list": ["linen", "summer"],
        "event_custom_block_id": "cb_42",
        "event_custom_block_source_url": "https://example.com/blocks/42",
    }


def test_cart_updated_json_in_a_string() -> None:
    row, problems = flat("insights_cart_updated.json")
    assert problems == []
    assert row == {
        **insights_row(5, "CartUpdated", "Cart Updated", "2023-08-15T18:51:11.000000Z"),
        "event_quantity_updated": -1,
        "event_variant_options_updated": {"Size": "L", "Color": "Sand"},
        "event_product_id": "8072647213337",
        "event_variant_name": "L / Sand",
        "event_variant_id": "44026431176985",
        "event_cart_id": "c1-5d0a9f",
        "event_product_title": "Linen Shirt",
        "event_product_type": "Shirts",
        "event_variant_price": 79.99,
        "event_multi_currency_code": "USD",
        "event_product_tags_list": ["linen"],
        "event_cart_total_price": 79.99,
        "event_cart_total_items": 1,
        "event_cart_total_items_list": [{"variant_id": "44026431176985", "quantity": 1}],
        "event_cart_total_product_id_list": ["8072647213337"],
        "event_update_type": "quantity",
        "event_cart_update_source": "cart_page",
    }


def test_checkout_created() -> None:
    row, problems = flat("insights_checkout_created.json")
    assert problems == []
    assert row == {
        **insights_row(6, "CheckoutCreated", "Checkout Created", "2023-08-15T18:51:12.000000Z"),
        "event_source": "cart",
        "event_currency_code": "USD",
        "event_checkout_type": "web",
        "event_checkout_id": "chk_9f8e7d",
        "event_checkout_amount": 84.99,
        "event_checkout_source_type": "cart",
        "event_checkout_source_id": "c1-5d0a9f",
        "event_checkout_source_title": "Cart",
        "event_multi_currency_code": "USD",
        "event_checkout_total_items": 1,
        "event_checkout_subtotal": 79.99,
        "event_checkout_items_list": [
            {
                "product_id": "8072647213337",
                "variant_id": "44026431176985",
                "quantity": 1,
                "price": "79.99",
            }
        ],
        "event_total_discount_amount": 0.0,
        "event_cart_id": "c1-5d0a9f",
    }


def test_order_created() -> None:
    row, problems = flat("insights_order_created.json")
    assert problems == []
    assert row == {
        **insights_row(7, "OrderCreated", "Order Created", "2023-08-15T18:51:13.000000Z"),
        "event_order_id": "5530093273369",
        "event_checkout_id": "chk_9f8e7d",
        "event_currency_code": "USD",
        "event_total_price": 84.99,
    }


def clickstream_row(number: int, event: str, display: str | None) -> dict[str, object]:
    return {
        **EMPTY_ROW,
        "event_id": f"mp-{number:04d}-7c1e-4b9a-9f3d-2a6b8c0d1e{number:02d}",
        "event_name": event,
        "event_display_name": display,
        "app_id": "app_5f2b1c",
        "envelope": "clickstream",
        "session_id": "ses-c0ffee",
        "device_id": "dev-3b7f0e",
        "event_time": "2024-03-02T09:15:30.250000Z",
        "event_time_source": "timestamp_iso",
        "timestamp_iso": "2024-03-02T09:15:30.250Z",
        "received_at": RECEIVED_TEXT,
        "context_extra": CLICKSTREAM_CONTEXT_EXTRA,
    }


def test_clickstream_product_viewed_maps_onto_the_same_columns() -> None:
    row, problems = flat("clickstream_product_viewed.json")
    assert problems == []
    assert row == {
        **clickstream_row(39, "productViewed", "Product Viewed"),
        "event_product_id": "8072647213337",
        "event_product_title": "Linen Shirt",
        "event_product_price": 79.99,
        "event_product_tags_list": ["linen", "summer"],
    }


def test_clickstream_cart_add_keeps_unknown_data_fields() -> None:
    row, problems = flat("clickstream_cart_add.json")
    assert problems == []
    assert row == {
        **clickstream_row(30, "cartAdd", "Added to Cart"),
        "event_product_id": "8072647213337",
        "event_variant_id": "44026431144217",
        "event_variant_price": 79.99,
        "event_cart_total_items": 2,
        "event_extra": {"quantity": 1},
    }


def test_seed_spelling_of_the_groups_gives_the_same_row() -> None:
    pascal, problems = flat("pascal_case_groups.json")
    assert problems == []
    assert pascal["session_source"] == "direct"
    assert pascal["event_app_open_source"] == "icon"
    assert pascal["device_extra"] == INSIGHTS_DEVICE_EXTRA
    assert pascal["shopify_extra"] == INSIGHTS_SHOPIFY_EXTRA
    assert pascal["app_extra"] == {"app_version": "5.12.0"}
    assert pascal["envelope_extra"] is None


def test_variant_title_fills_variant_name() -> None:
    row, problems = flat("trap_variant_title.json")
    assert problems == []
    assert row["event_variant_name"] == "M / Sand"
    assert row["event_extra"] is None


def test_json_inside_strings_is_decoded() -> None:
    row, _ = flat("trap_json_in_string.json")
    assert row["event_variant_options_updated"] == {"Size": "L", "Color": "Sand"}
    assert row["event_cart_total_items_list"] == [{"variant_id": "1", "quantity": 2}]
    assert row["event_product_tags_list"] == ["linen", "summer"]


def test_empty_lists_and_values_become_empty() -> None:
    lists, _ = flat("trap_empty_lists.json")
    assert lists["event_product_tags_list"] == []
    assert lists["event_product_badge_titles_list"] == []
    assert lists["event_product_badge_ids_list"] == []
    assert lists["event_product_badge_positioning_list"] == []
    assert lists["event_cart_total_product_id_list"] == []
    assert lists["event_checkout_items_list"] == []
    assert lists["event_extra"] is None
    values, _ = flat("trap_empty_values.json")
    assert values["session_id"] == "ses-91a4c2"  # "" at the top, the group's copy wins
    assert values["device_id"] == "dev-3b7f0e"
    for column in ("event_product_id", "event_product_title", "event_product_price"):
        assert values[column] is None
    assert values["event_extra"] is None


def test_numbers_in_strings() -> None:
    row, problems = flat("trap_numbers_as_strings.json")
    assert problems == []
    assert row["event_variant_price"] == 79.99
    assert row["event_cart_total_items"] == 1
    assert row["event_cart_total_price"] == 159.98
    assert row["event_product_price"] == 100.0


def test_conflicting_event_id_keeps_the_envelope_one_and_the_other_in_extras() -> None:
    row, problems = flat("trap_conflicting_event_id.json")
    assert problems == ["conflicting_value"]
    assert row["event_id"].startswith("evt-")  # type: ignore[union-attr]
    assert row["event_extra"] == {"event_id": "evt-different-from-the-envelope"}


def test_event_id_found_in_event_properties() -> None:
    row, problems = flat("trap_event_id_only_in_event_properties.json")
    assert problems == []
    assert (
        row["event_id"]
        == load("trap_event_id_only_in_event_properties.json")[  # type: ignore[index]
            "event_properties"
        ]["event_id"]
    )


def test_wrong_types_are_kept_as_sent() -> None:
    row, _ = flat("wrong_types_event_properties.json")
    event = load("wrong_types_event_properties.json")["event_properties"]  # type: ignore[index]
    extra = row["event_extra"]
    assert isinstance(extra, dict)
    for key in (
        "source",
        "product_id",
        "variant_price",
        "cart_total_items",
        "variant_options_updated",
        "product_badge_ids_list",
        "session_id",
    ):
        assert extra[key] == event[key]
    assert row["event_source"] is None
    assert row["event_variant_price"] is None
    assert row["event_product_badge_ids_list"] == []
    # A list with a number is still a list of text.
    assert row["event_cart_total_product_id_list"] == []
    assert extra["cart_total_product_id_list"] == 8072647213337


def test_groups_that_are_not_objects_stay_in_envelope_extra() -> None:
    row, _ = flat("wrong_types_envelope.json")
    envelope_extra = row["envelope_extra"]
    assert isinstance(envelope_extra, dict)
    assert envelope_extra["device_properties"] == "iPhone"
    assert envelope_extra["session_properties"] == [1, 2]
    assert envelope_extra["metadata"] == "Event_AppOpened_5_0_0"
    assert envelope_extra["session_id"] == {"id": "ses"}
    assert envelope_extra["timestamp"] == "soon"
    assert row["timestamp_iso"] == "20230815"
    assert row["event_time_source"] == "received_at"


def test_ids_sent_as_numbers() -> None:
    row, problems = flat("wrong_types_identity.json")
    assert problems == []
    assert (row["event_id"], row["app_id"], row["session_id"]) == ("1234567890", "98765", "3.5")


def test_unknown_event_type_is_kept() -> None:
    row, problems = flat("unknown_event_type.json")
    assert problems == []
    assert row["event_name"] == "LoyaltyPointsRedeemed"
    assert row["event_display_name"] is None
    assert row["event_extra"] == {"points": "250", "reward_id": "rw_9"}


def test_unknown_fields_land_in_their_group_extras() -> None:
    row, _ = flat("unknown_fields.json")
    assert row["envelope_extra"] == {
        "metadata": {"schema_revision": 3},
        "brand_new_top_level": "hello",
        "loyalty_properties": {"tier": "gold"},
    }
    assert row["event_extra"] == {"brand_new_field": {"nested": [1, 2, {"x": None}]}}
    for group in ("device", "session", "shopify", "app"):
        extra = row[f"{group}_extra"]
        assert isinstance(extra, dict)
        assert extra[f"unexpected_{group}"] == [True, False, None]


def test_huge_strings_are_kept_whole() -> None:
    row, problems = flat("huge_strings.json")
    payload = load("huge_strings.json")["event_properties"]  # type: ignore[index]
    assert problems == []
    assert row["event_product_title"] == payload["product_title"]
    assert row["event_extra"] == {"description_html": payload["description_html"]}


def test_timestamps_fall_back_in_order() -> None:
    assert flat("timestamp_as_string.json")[0]["event_time"] == "2023-08-15T18:51:06.000000Z"
    iso_only, _ = flat("timestamp_iso_only.json")
    assert (iso_only["event_time"], iso_only["event_time_source"]) == (
        "2023-08-15T18:51:06.000000Z",
        "timestamp_iso",
    )
    for name in ("no_timestamp.json", "timestamp_iso_without_offset.json"):
        row, _ = flat(name)
        assert (row["event_time"], row["event_time_source"]) == (RECEIVED_TEXT, "received_at")
    seconds, _ = flat("timestamp_in_seconds.json")
    assert seconds["event_time_source"] == "timestamp_iso"
    assert seconds["timestamp_ms"] == 1692125466


def test_not_an_object_is_fatal_but_keeps_the_payload() -> None:
    row, problems = flatten(load("fatal_not_an_object_list.json"), RECEIVED)
    assert [(problem.kind, problem.fatal) for problem in problems] == [("not_an_object", True)]
    assert orjson.loads(row["payload"]) == load("fatal_not_an_object_list.json")  # type: ignore[arg-type]
    assert row["event_time"] == RECEIVED_TEXT


def test_every_fixture_is_described_by_the_manifest() -> None:
    on_disk = {path.name for path in PAYLOADS.iterdir()}
    described = set(MANIFEST["payloads"]) | set(MANIFEST["not_json"])
    assert on_disk == described


def test_the_corpus_covers_every_event_type_in_both_envelopes() -> None:
    names = set(MANIFEST["payloads"])
    for event_type in EVENT_TYPES:
        for envelope, wire in (
            ("insights", event_type.insights_name),
            ("clickstream", event_type.clickstream_name),
        ):
            if wire is None:
                continue
            matching = [
                name
                for name in names
                if name.startswith(f"{envelope}_")
                and isinstance(payload := load(name), dict)
                and payload.get("event_type" if envelope == "insights" else "event") == wire
            ]
            assert matching, f"no {envelope} fixture for {wire}"


@pytest.mark.parametrize("name", sorted(MANIFEST["payloads"]))
def test_fixture_problems_and_row(name: str) -> None:
    expected = MANIFEST["payloads"][name]
    payload = load(name)
    row, problems = flatten(payload, RECEIVED)
    kinds: dict[str, int] = {}
    for problem in problems:
        kinds[problem.kind] = kinds.get(problem.kind, 0) + 1
    assert kinds == expected["problems"]
    assert any(problem.fatal for problem in problems) == expected["fatal"]
    errors = validate_row(row, EVENTS_SCHEMA)
    if expected["fatal"]:
        errors = [error for error in errors if not error.endswith(": required")]
    assert errors == []
    if isinstance(payload, dict):
        identity = identify(payload)
        assert (row["event_id"], row["event_name"], row["app_id"]) == (
            identity.event_id,
            identity.event_name,
            identity.app_id,
        )


@pytest.mark.parametrize("name", sorted(MANIFEST["not_json"]))
def test_invalid_fixtures_are_not_json(name: str) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads((PAYLOADS / name).read_bytes())
