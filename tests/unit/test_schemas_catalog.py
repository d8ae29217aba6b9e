"""The field catalog against the public reference and the contracts others build on."""

from __future__ import annotations

import pytest

import schemas
from schemas.catalog import (
    DEAD_LETTER_COLUMNS,
    EVENT_COLUMNS,
    EVENT_TYPES,
    GROUPS,
    Coercion,
    Column,
    FilledBy,
    Mode,
    display_names,
    source_paths,
)
from schemas.envelope import IDENTITY_PATHS, Envelope
from schemas.layout import layout, walk

# event_properties fields per documented event, as the reference lists them.
REFERENCE_EVENT_FIELDS = {
    "App Installed": "event_id source",
    "App Opened": "event_id app_open_source notification_id notification_type segment_id",
    "Added to Cart": "source product_id product_title product_type variant_id variant_name "
    "variant_price event_id cart_add_source cart_add_type collection_id collection_title "
    "multi_currency_code cart_total_price cart_total_items cart_total_items_list "
    "product_badge_titles_list product_badge_ids_list product_badge_positioning_list "
    "custom_block_id custom_block_source_url",
    "Product Viewed": "source event_id collection_id product_id product_title product_type "
    "product_price product_view_source collection_title multi_currency_code product_tags_list "
    "product_badge_titles_list product_badge_ids_list product_badge_positioning_list "
    "custom_block_id custom_block_source_url",
    "Cart Updated": "event_id quantity_updated variant_options_updated product_id variant_name "
    "variant_id cart_id product_title product_type variant_price collection_id collection_title "
    "multi_currency_code product_tags_list cart_total_price cart_total_items "
    "cart_total_items_list cart_total_product_id_list product_badge_titles_list "
    "product_badge_ids_list product_badge_positioning_list update_type cart_update_source",
    "Checkout Created": "source event_id currency_code checkout_type checkout_id checkout_amount "
    "checkout_source_type checkout_source_id checkout_source_title multi_currency_code "
    "checkout_total_items checkout_subtotal checkout_items_list total_discount_amount "
    "total_gift_card_amount_applied cart_id",
    "Order Created": "order_id checkout_id currency_code total_price",
}
REFERENCE_NUMBERS = (
    "variant_price cart_total_price product_price checkout_amount checkout_subtotal "
    "total_discount_amount total_gift_card_amount_applied total_price"
).split()
REFERENCE_INTEGERS = "cart_total_items quantity_updated checkout_total_items".split()
REFERENCE_DISPLAY_NAMES = (
    "App Installed|App Opened|Session Started|Account Created|Product Searched|Collection Viewed|"
    "Wishlist Created|Wishlist Updated|Wishlist Viewed|Wishlist Home Viewed|Product Viewed|"
    "Added to Cart|Cart Updated|Cart Viewed|Checkout Created|Order Created|Purchase Completed|"
    "Custom Block Viewed|Custom Block Interacted|Discount Applied|Discount Failed|"
    "Multipage Nav Interacted|Navigation Interacted|Country Changed|"
    "Push Notification Received|Push Notification Enabled|Push Notification Disabled"
).split("|")
REFERENCE_CLICKSTREAM_EVENTS = (
    "applicationInstalled applicationOpened cartAdd cartRemove cartUpdated checkoutCreated "
    "collectionViewed loggedIn loggedOut pageView search productViewed purchaseCompleted "
    "pushOpened wishlistItemAdded"
).split()
IDS = ("event_id", "session_id", "device_id", "app_id", "ip")


def columns_by_name() -> dict[str, Column]:
    return {column.name: column for column in EVENT_COLUMNS}


def event_column(key: str) -> Column:
    matches = [c for c in EVENT_COLUMNS if c.group == "event" and key in c.keys]
    assert len(matches) == 1, key
    return matches[0]


def test_column_names_are_unique_and_bigquery_safe() -> None:
    for table in (EVENT_COLUMNS, DEAD_LETTER_COLUMNS):
        names = [column.name for column in table]
        assert len(names) == len(set(names))
        for name in names:
            assert name.isidentifier() and name == name.lower() and len(name) <= 300


def test_every_documented_event_field_has_a_column() -> None:
    for event_name, fields in REFERENCE_EVENT_FIELDS.items():
        for key in fields.split():
            if key == "event_id":
                continue  # repeated from the envelope: the event_id column
            column = event_column(key)
            assert column.name == f"event_{key}"
            assert event_name in column.events


def test_number_traps_are_coerced_as_numbers() -> None:
    for key in REFERENCE_NUMBERS:
        assert event_column(key).coercion is Coercion.NUMBER
    for key in REFERENCE_INTEGERS:
        assert event_column(key).coercion is Coercion.INTEGER
    assert event_column("variant_options_updated").coercion is Coercion.JSON
    assert "variant_title" in event_column("variant_name").keys
    for column in EVENT_COLUMNS:
        if column.name.endswith("_list"):
            assert column.coercion in (Coercion.TEXT_LIST, Coercion.JSON_LIST)


def test_group_columns_carry_their_group_prefix() -> None:
    for column in EVENT_COLUMNS:
        if column.keys:
            assert column.name.startswith(f"{column.group}_")


def test_both_spellings_of_every_insights_group() -> None:
    for name in ("device", "session", "event", "shopify", "app"):
        group = next(group for group in GROUPS if group.name == name)
        pascal = f"{name.title()}Properties"
        assert group.keys[Envelope.INSIGHTS] == (f"{name}_properties", pascal)
    assert schemas.EVENTS_COLUMN_NAMES.count("payload") == 1
    for group in GROUPS:
        assert group.extra_column in schemas.EVENTS_COLUMN_NAMES
    assert "envelope_extra" in schemas.EVENTS_COLUMN_NAMES


def test_ids_are_read_from_every_group() -> None:
    insights = layout(Envelope.INSIGHTS)
    for group_key in (
        "device_properties",
        "SessionProperties",
        "event_properties",
        "app_properties",
    ):
        node = insights.children[group_key]
        for name in IDS:
            assert node.slots[name].column.name == name


def test_identity_paths_match_the_receivers() -> None:
    by_name = columns_by_name()
    for envelope, fields in IDENTITY_PATHS.items():
        for name, paths in fields.items():
            assert source_paths(by_name[name], envelope)[: len(paths)] == paths


def test_the_contract_columns_and_modes() -> None:
    by_name = columns_by_name()
    required = {name for name, c in by_name.items() if c.mode is Mode.REQUIRED}
    assert required == {"event_id", "event_name", "app_id", "event_time"}
    for name in (
        "envelope schema_id session_id device_id ip event_time_source received_at payload "
        "inserted_at kafka_topic kafka_partition kafka_offset"
    ).split():
        assert name in by_name
    assert schemas.INGEST_COLUMN_NAMES == (
        "inserted_at",
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
    )
    assert all(c.filled_by is FilledBy.PIPELINE for c in EVENT_COLUMNS if c.group == "ingest")


def test_the_dead_letter_contract() -> None:
    assert [(c.name, c.type.value, c.mode.value) for c in DEAD_LETTER_COLUMNS] == [
        ("event_id", "STRING", "NULLABLE"),
        ("app_id", "STRING", "NULLABLE"),
        ("raw_payload", "STRING", "NULLABLE"),
        ("raw_payload_bytes", "BYTES", "NULLABLE"),
        ("error_type", "STRING", "REQUIRED"),
        ("error_message", "STRING", "NULLABLE"),
        ("exception_class", "STRING", "NULLABLE"),
        ("stack_trace", "STRING", "NULLABLE"),
        ("failed_step", "STRING", "NULLABLE"),
        ("kafka_topic", "STRING", "NULLABLE"),
        ("kafka_partition", "INTEGER", "NULLABLE"),
        ("kafka_offset", "INTEGER", "NULLABLE"),
        ("received_at", "TIMESTAMP", "NULLABLE"),
        ("failed_at", "TIMESTAMP", "REQUIRED"),
    ]


def test_event_types_cover_the_reference_in_both_envelopes() -> None:
    displays = [event_type.display_name for event_type in EVENT_TYPES]
    assert len(displays) == len(set(displays))
    assert set(REFERENCE_DISPLAY_NAMES) <= set(displays)
    assert {e.clickstream_name for e in EVENT_TYPES} - {None} == set(REFERENCE_CLICKSTREAM_EVENTS)
    names = display_names()
    assert names["AppOpened"] == names["applicationOpened"] == "App Opened"
    assert names["AddedToCart"] == names["cartAdd"] == "Added to Cart"
    confirmed = [e.insights_name for e in EVENT_TYPES if e.insights_confirmed]
    assert confirmed == ["AppOpened"]


@pytest.mark.parametrize("envelope", list(Envelope))
def test_every_payload_column_is_reachable(envelope: Envelope) -> None:
    reached = {slot.column.name for node in walk(layout(envelope)) for slot in node.slots.values()}
    for column in EVENT_COLUMNS:
        if column.filled_by is FilledBy.PAYLOAD and source_paths(column, envelope):
            assert column.name in reached
        if column.filled_by is FilledBy.PAYLOAD:
            assert column.coercion is not None
        else:
            assert column.coercion is None and not column.keys and not column.paths
