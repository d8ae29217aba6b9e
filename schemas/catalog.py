"""The field catalog: every column of the warehouse tables and where it comes from.

This module is the single source of truth. The flattening (`pipeline.flatten`),
the BigQuery table schemas, the JSON Schema of the envelopes and the data
dictionary are all derived from it (`python -m schemas.generate`).

A payload column names the group it belongs to and the key(s) it arrives
under inside that group's object, or explicit paths from the top of the
payload. Groups sit under different keys per envelope (`device_properties`
or `DeviceProperties` in Insights events, `data` in Clickstream events).
Adding a field Tapcart starts sending is one `_event_field(...)` line here,
then `make schemas`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from schemas.envelope import IDENTITY_PATHS, Envelope, Path


class BigQueryType(StrEnum):
    """Column types, spelled as the BigQuery API returns them (no alias diffs in Terraform)."""

    STRING = "STRING"
    INTEGER = "INTEGER"
    FLOAT = "FLOAT"
    BOOLEAN = "BOOLEAN"
    TIMESTAMP = "TIMESTAMP"
    JSON = "JSON"
    BYTES = "BYTES"

    @property
    def sql_name(self) -> str:
        """The GoogleSQL name BI users see in the console."""
        return _SQL_NAMES.get(self, self.value)


_SQL_NAMES = {
    BigQueryType.INTEGER: "INT64",
    BigQueryType.FLOAT: "FLOAT64",
    BigQueryType.BOOLEAN: "BOOL",
}


class Mode(StrEnum):
    NULLABLE = "NULLABLE"
    REQUIRED = "REQUIRED"
    REPEATED = "REPEATED"


class Coercion(StrEnum):
    """How a payload value becomes a column value (see `pipeline.coerce`)."""

    ID = "id"
    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    JSON = "json"
    JSON_LIST = "json_list"
    TEXT_LIST = "text_list"


COERCION_RULES: dict[Coercion, str] = {
    Coercion.ID: "text, trimmed; a number becomes its text; blank, `null`, `true`/`false` or an "
    "object is no id",
    Coercion.TEXT: 'text as sent; a number becomes its text; `""` and `null` become NULL',
    Coercion.INTEGER: 'a JSON integer, or a string holding one (`"1"`); `""` and `null` '
    "become NULL; fractions and values outside INT64 are problems",
    Coercion.NUMBER: 'a JSON number, or a string holding one (`"79.99"`); `""` and `null` '
    "become NULL; NaN and infinities are problems",
    Coercion.JSON: 'any JSON value; a string holding JSON (`"{\\"size\\": \\"M\\"}"`) is '
    'decoded first; `""` and `null` become NULL',
    Coercion.JSON_LIST: 'a JSON array, or a string holding one; `[""]` becomes `[]`',
    Coercion.TEXT_LIST: "a JSON array of text (numbers become text), or a string holding one; "
    '`[""]`, `""` and `null` become an empty list',
}


class FilledBy(StrEnum):
    PAYLOAD = "payload"
    FLATTEN = "flatten"
    PIPELINE = "pipeline"


@dataclass(frozen=True)
class Group:
    """A property group: one object of the payload, with its own extras column."""

    name: str
    description: str
    keys: Mapping[Envelope, tuple[str, ...]]

    @property
    def extra_column(self) -> str:
        return f"{self.name}_extra"


@dataclass(frozen=True)
class Column:
    """One column of a table, and for payload columns where its value arrives."""

    name: str
    type: BigQueryType
    description: str
    mode: Mode = Mode.NULLABLE
    filled_by: FilledBy = FilledBy.PAYLOAD
    coercion: Coercion | None = None
    # "envelope", one of the GROUPS, "derived", "extras" or "ingest": how the docs file it.
    group: str = "envelope"
    # Keys inside the group's object, documented spelling first (group columns).
    keys: tuple[str, ...] = ()
    # Explicit paths from the top of the payload, by priority (envelope columns).
    paths: Mapping[Envelope, tuple[Path, ...]] = field(default_factory=dict)
    # The ids Tapcart repeats inside the groups: also read from every group object,
    # the group the id belongs to (`session` for `session_id`) first.
    repeated_in_groups: bool = False
    home_group: str | None = None
    # False for the ids the receiver checks (`identify` reads only `paths`): their copies
    # in other groups are compared with the value found, never used to fill the column.
    group_copies_fill: bool = True
    # Display names of the documented events that carry the field.
    events: tuple[str, ...] = ()


@dataclass(frozen=True)
class EventType:
    """An event type, named as Tapcart's reference displays it, with its wire names."""

    display_name: str
    insights_name: str | None
    clickstream_name: str | None = None
    # Only `AppOpened` is confirmed on the wire; the rest follow its CamelCase pattern.
    insights_confirmed: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]
    partition_field: str
    clustering: tuple[str, ...]


INSIGHTS = Envelope.INSIGHTS
CLICKSTREAM = Envelope.CLICKSTREAM

GROUPS: tuple[Group, ...] = (
    Group(
        "device",
        "The user's device. Tapcart does not publish these fields: all of them are kept "
        "in `device_extra`.",
        {INSIGHTS: ("device_properties", "DeviceProperties")},
    ),
    Group(
        "session",
        "The app session (`session_id`, `source`).",
        {INSIGHTS: ("session_properties", "SessionProperties")},
    ),
    Group(
        "event",
        "What happened: the fields of the event type. Clickstream events carry them in `data`.",
        {INSIGHTS: ("event_properties", "EventProperties"), CLICKSTREAM: ("data",)},
    ),
    Group(
        "shopify",
        "Shopify context. Tapcart does not publish these fields: all of them are kept in "
        "`shopify_extra`.",
        {INSIGHTS: ("shopify_properties", "ShopifyProperties")},
    ),
    Group(
        "app",
        "The merchant's app. Tapcart does not publish these fields: all of them are kept in "
        "`app_extra`.",
        {INSIGHTS: ("app_properties", "AppProperties")},
    ),
    Group(
        "context",
        "Clickstream device and session context (`properties`). Its fields are not public: "
        "all of them are kept in `context_extra`.",
        {CLICKSTREAM: ("properties",)},
    ),
)
GROUPS_BY_NAME: dict[str, Group] = {group.name: group for group in GROUPS}


def _identity_paths(name: str) -> dict[Envelope, tuple[Path, ...]]:
    # The receiver's `identify` and the flattening must pick the same value.
    return {envelope: paths[name] for envelope, paths in IDENTITY_PATHS.items()}


def _top(
    *paths: Path, clickstream: tuple[Path, ...] | None = None
) -> dict[Envelope, tuple[Path, ...]]:
    return {INSIGHTS: paths, CLICKSTREAM: paths if clickstream is None else clickstream + paths}


_IDENTITY_COLUMNS = (
    Column(
        "event_id",
        BigQueryType.STRING,
        "Unique id of the event, the dedupe key. Insights: `event_id` (also repeated in "
        "`event_properties`); Clickstream: `mp_metadata.mp_event_id`.",
        mode=Mode.REQUIRED,
        coercion=Coercion.ID,
        paths=_identity_paths("event_id"),
        repeated_in_groups=True,
        group_copies_fill=False,
        home_group="event",
    ),
    Column(
        "event_name",
        BigQueryType.STRING,
        "Event type as sent: Insights `event_type` (e.g. `AppOpened`), Clickstream `event` "
        "(e.g. `applicationOpened`).",
        mode=Mode.REQUIRED,
        coercion=Coercion.ID,
        paths=_identity_paths("event_name"),
    ),
    Column(
        "event_display_name",
        BigQueryType.STRING,
        "Tapcart's display name of the event type (e.g. `App Opened`), the same in both "
        "envelopes; NULL for an event type the catalog does not know.",
        filled_by=FilledBy.FLATTEN,
        group="derived",
    ),
    Column(
        "app_id",
        BigQueryType.STRING,
        "The merchant's Tapcart app.",
        mode=Mode.REQUIRED,
        coercion=Coercion.ID,
        paths=_identity_paths("app_id"),
        repeated_in_groups=True,
        group_copies_fill=False,
        home_group="app",
    ),
    Column(
        "envelope",
        BigQueryType.STRING,
        "Which webhook sent the event: `insights` (legacy) or `clickstream`.",
        filled_by=FilledBy.FLATTEN,
        group="derived",
    ),
    Column(
        "schema_id",
        BigQueryType.STRING,
        "Versioned schema name, e.g. `Event_AppOpened_5_0_0` (Insights `metadata.schema_id`).",
        coercion=Coercion.TEXT,
        paths={INSIGHTS: (("metadata", "schema_id"),)},
    ),
    Column(
        "session_id",
        BigQueryType.STRING,
        "The app session. Insights: `session_id` (also in `session_properties`); Clickstream: "
        "`mp_metadata.mp_session_id`.",
        coercion=Coercion.ID,
        paths=_top(("session_id",), clickstream=(("mp_metadata", "mp_session_id"),)),
        repeated_in_groups=True,
        home_group="session",
    ),
    Column(
        "device_id",
        BigQueryType.STRING,
        "The user's device.",
        coercion=Coercion.ID,
        paths=_top(("device_id",)),
        repeated_in_groups=True,
        home_group="device",
    ),
    Column(
        "ip",
        BigQueryType.STRING,
        "The user's IP address, when Tapcart sends it.",
        coercion=Coercion.ID,
        paths=_top(("ip",)),
        repeated_in_groups=True,
    ),
)

_TIME_COLUMNS = (
    Column(
        "event_time",
        BigQueryType.TIMESTAMP,
        "When the event happened, UTC: from `timestamp`, else `timestamp_iso`, else the receive "
        "time (see `event_time_source`). The table is partitioned on its day.",
        mode=Mode.REQUIRED,
        filled_by=FilledBy.FLATTEN,
        group="derived",
    ),
    Column(
        "event_time_source",
        BigQueryType.STRING,
        "Which field gave `event_time`: `timestamp`, `timestamp_iso` or `received_at`.",
        filled_by=FilledBy.FLATTEN,
        group="derived",
    ),
    Column(
        "timestamp_ms",
        BigQueryType.INTEGER,
        "`timestamp` as sent: epoch milliseconds.",
        coercion=Coercion.INTEGER,
        paths=_top(("timestamp",)),
    ),
    Column(
        "timestamp_iso",
        BigQueryType.STRING,
        "`timestamp_iso` as sent: ISO-8601 with the user's UTC offset.",
        coercion=Coercion.TEXT,
        paths=_top(("timestamp_iso",)),
    ),
    Column(
        "received_at",
        BigQueryType.TIMESTAMP,
        "When the receiver accepted the event, UTC.",
        filled_by=FilledBy.FLATTEN,
        group="derived",
    ),
)

_SESSION_COLUMNS = (
    Column(
        "session_source",
        BigQueryType.STRING,
        "How the session started; Tapcart's default is `direct`.",
        coercion=Coercion.TEXT,
        group="session",
        keys=("source",),
    ),
)

# Display names of the documented events, for the `events` attribute below.
_APP_INSTALLED = "App Installed"
_APP_OPENED = "App Opened"
_ADDED_TO_CART = "Added to Cart"
_PRODUCT_VIEWED = "Product Viewed"
_CART_UPDATED = "Cart Updated"
_CHECKOUT_CREATED = "Checkout Created"
_ORDER_CREATED = "Order Created"
_PRODUCT_EVENTS = (_ADDED_TO_CART, _PRODUCT_VIEWED, _CART_UPDATED)


def _event_field(
    key: str,
    type_: BigQueryType,
    coercion: Coercion,
    description: str,
    events: tuple[str, ...],
    *aliases: str,
) -> Column:
    mode = Mode.REPEATED if coercion is Coercion.TEXT_LIST else Mode.NULLABLE
    return Column(
        f"event_{key}",
        type_,
        description,
        mode=mode,
        coercion=coercion,
        group="event",
        keys=(key, *aliases),
        events=events,
    )


_S, _I, _F, _J = BigQueryType.STRING, BigQueryType.INTEGER, BigQueryType.FLOAT, BigQueryType.JSON
_TEXT, _INT, _NUM = Coercion.TEXT, Coercion.INTEGER, Coercion.NUMBER
_LIST = Coercion.TEXT_LIST

_EVENT_COLUMNS = (
    _event_field(
        "source",
        _S,
        _TEXT,
        "Where the event came from in the app.",
        (_APP_INSTALLED, _ADDED_TO_CART, _PRODUCT_VIEWED, _CHECKOUT_CREATED),
    ),
    _event_field(
        "app_open_source", _S, _TEXT, "What opened the app (e.g. a notification).", (_APP_OPENED,)
    ),
    _event_field(
        "notification_id", _S, _TEXT, "The push notification that opened the app.", (_APP_OPENED,)
    ),
    _event_field("notification_type", _S, _TEXT, "Kind of that notification.", (_APP_OPENED,)),
    _event_field("segment_id", _S, _TEXT, "Audience segment of that notification.", (_APP_OPENED,)),
    _event_field("product_id", _S, _TEXT, "Shopify product id.", _PRODUCT_EVENTS),
    _event_field("product_title", _S, _TEXT, "Product title.", _PRODUCT_EVENTS),
    _event_field("product_type", _S, _TEXT, "Shopify product type.", _PRODUCT_EVENTS),
    _event_field("product_price", _F, _NUM, "Product price.", (_PRODUCT_VIEWED,)),
    _event_field(
        "product_view_source", _S, _TEXT, "Where the product was opened from.", (_PRODUCT_VIEWED,)
    ),
    _event_field("product_tags_list", _S, _LIST, "Product tags.", (_PRODUCT_VIEWED, _CART_UPDATED)),
    _event_field(
        "product_badge_titles_list", _S, _LIST, "Titles of the product's badges.", _PRODUCT_EVENTS
    ),
    _event_field(
        "product_badge_ids_list", _S, _LIST, "Ids of the product's badges.", _PRODUCT_EVENTS
    ),
    _event_field(
        "product_badge_positioning_list",
        _S,
        _LIST,
        "Positions of the product's badges.",
        _PRODUCT_EVENTS,
    ),
    _event_field("variant_id", _S, _TEXT, "Shopify variant id.", (_ADDED_TO_CART, _CART_UPDATED)),
    _event_field(
        "variant_name",
        _S,
        _TEXT,
        "Variant name. Tapcart's docs call it `variant_title`; both keys are read.",
        (_ADDED_TO_CART, _CART_UPDATED),
        "variant_title",
    ),
    _event_field(
        "variant_price",
        _F,
        _NUM,
        "Variant price (often sent as text).",
        (_ADDED_TO_CART, _CART_UPDATED),
    ),
    _event_field(
        "variant_options_updated",
        _J,
        Coercion.JSON,
        "Variant options changed by the update (sent as JSON inside a string).",
        (_CART_UPDATED,),
    ),
    _event_field(
        "quantity_updated", _I, _INT, "Change of quantity made by the update.", (_CART_UPDATED,)
    ),
    _event_field("update_type", _S, _TEXT, "Kind of cart update.", (_CART_UPDATED,)),
    _event_field(
        "cart_update_source", _S, _TEXT, "Where in the app the cart was updated.", (_CART_UPDATED,)
    ),
    _event_field(
        "cart_add_source", _S, _TEXT, "Where in the app the item was added.", (_ADDED_TO_CART,)
    ),
    _event_field("cart_add_type", _S, _TEXT, "Kind of add to cart.", (_ADDED_TO_CART,)),
    _event_field("cart_id", _S, _TEXT, "The cart.", (_CART_UPDATED, _CHECKOUT_CREATED)),
    _event_field(
        "cart_total_price",
        _F,
        _NUM,
        "Cart total after the event.",
        (_ADDED_TO_CART, _CART_UPDATED),
    ),
    _event_field(
        "cart_total_items",
        _I,
        _INT,
        "Number of items in the cart after the event (often sent as text).",
        (_ADDED_TO_CART, _CART_UPDATED),
    ),
    _event_field(
        "cart_total_items_list",
        _J,
        Coercion.JSON_LIST,
        "The cart's items after the event; their shape is not public.",
        (_ADDED_TO_CART, _CART_UPDATED),
    ),
    _event_field(
        "cart_total_product_id_list",
        _S,
        _LIST,
        "Product ids in the cart after the event.",
        (_CART_UPDATED,),
    ),
    _event_field("collection_id", _S, _TEXT, "Shopify collection id.", _PRODUCT_EVENTS),
    _event_field("collection_title", _S, _TEXT, "Collection title.", _PRODUCT_EVENTS),
    _event_field(
        "multi_currency_code",
        _S,
        _TEXT,
        "Currency shown to the user (multi-currency stores).",
        (*_PRODUCT_EVENTS, _CHECKOUT_CREATED),
    ),
    _event_field(
        "custom_block_id",
        _S,
        _TEXT,
        "Custom block the action came from.",
        (_ADDED_TO_CART, _PRODUCT_VIEWED),
    ),
    _event_field(
        "custom_block_source_url",
        _S,
        _TEXT,
        "Source URL of that custom block.",
        (_ADDED_TO_CART, _PRODUCT_VIEWED),
    ),
    _event_field(
        "currency_code", _S, _TEXT, "Currency of the amounts.", (_CHECKOUT_CREATED, _ORDER_CREATED)
    ),
    _event_field("checkout_type", _S, _TEXT, "Kind of checkout.", (_CHECKOUT_CREATED,)),
    _event_field("checkout_id", _S, _TEXT, "The checkout.", (_CHECKOUT_CREATED, _ORDER_CREATED)),
    _event_field("checkout_amount", _F, _NUM, "Checkout amount.", (_CHECKOUT_CREATED,)),
    _event_field(
        "checkout_source_type",
        _S,
        _TEXT,
        "Kind of place the checkout started from.",
        (_CHECKOUT_CREATED,),
    ),
    _event_field("checkout_source_id", _S, _TEXT, "Id of that place.", (_CHECKOUT_CREATED,)),
    _event_field("checkout_source_title", _S, _TEXT, "Title of that place.", (_CHECKOUT_CREATED,)),
    _event_field(
        "checkout_total_items", _I, _INT, "Number of items checked out.", (_CHECKOUT_CREATED,)
    ),
    _event_field("checkout_subtotal", _F, _NUM, "Checkout subtotal.", (_CHECKOUT_CREATED,)),
    _event_field(
        "checkout_items_list",
        _J,
        Coercion.JSON_LIST,
        "Items checked out; their shape is not public.",
        (_CHECKOUT_CREATED,),
    ),
    _event_field(
        "total_discount_amount", _F, _NUM, "Total discount applied.", (_CHECKOUT_CREATED,)
    ),
    _event_field(
        "total_gift_card_amount_applied",
        _F,
        _NUM,
        "Total paid with gift cards.",
        (_CHECKOUT_CREATED,),
    ),
    _event_field("order_id", _S, _TEXT, "Shopify order id.", (_ORDER_CREATED,)),
    _event_field("total_price", _F, _NUM, "Order total.", (_ORDER_CREATED,)),
)


def _extras_columns() -> tuple[Column, ...]:
    envelope = Column(
        "envelope_extra",
        BigQueryType.JSON,
        "Top-level fields the catalog does not know, and values that could not go to their "
        "column or group, at their original path.",
        filled_by=FilledBy.FLATTEN,
        group="extras",
    )
    per_group = tuple(
        Column(
            group.extra_column,
            BigQueryType.JSON,
            f"Fields of the {group.name} group the catalog does not know, and known fields whose "
            "value could not be coerced, as sent.",
            filled_by=FilledBy.FLATTEN,
            group="extras",
        )
        for group in GROUPS
    )
    return (envelope, *per_group)


_PAYLOAD_COLUMN = Column(
    "payload",
    BigQueryType.JSON,
    "The whole original payload (NULL when the pipeline runs with the payload switched off).",
    filled_by=FilledBy.FLATTEN,
    group="extras",
)

INGEST_COLUMNS: tuple[Column, ...] = (
    Column(
        "inserted_at",
        BigQueryType.TIMESTAMP,
        "When the pipeline wrote the row, UTC.",
        filled_by=FilledBy.PIPELINE,
        group="ingest",
    ),
    Column(
        "kafka_topic",
        BigQueryType.STRING,
        "Kafka topic the event was read from.",
        filled_by=FilledBy.PIPELINE,
        group="ingest",
    ),
    Column(
        "kafka_partition",
        BigQueryType.INTEGER,
        "Kafka partition the event was read from.",
        filled_by=FilledBy.PIPELINE,
        group="ingest",
    ),
    Column(
        "kafka_offset",
        BigQueryType.INTEGER,
        "Kafka offset of the event in that partition.",
        filled_by=FilledBy.PIPELINE,
        group="ingest",
    ),
)

EVENT_COLUMNS: tuple[Column, ...] = (
    *_IDENTITY_COLUMNS,
    *_TIME_COLUMNS,
    *_SESSION_COLUMNS,
    *_EVENT_COLUMNS,
    *_extras_columns(),
    _PAYLOAD_COLUMN,
    *INGEST_COLUMNS,
)

DEAD_LETTER_COLUMNS: tuple[Column, ...] = tuple(
    Column(name, type_, description, mode=mode, filled_by=FilledBy.PIPELINE, group="dead_letter")
    for name, type_, mode, description in (
        ("event_id", _S, Mode.NULLABLE, "The event's id, when it could be found."),
        ("app_id", _S, Mode.NULLABLE, "The merchant's app, when it could be found."),
        ("raw_payload", _S, Mode.NULLABLE, "The raw body as text (invalid UTF-8 replaced)."),
        (
            "raw_payload_bytes",
            BigQueryType.BYTES,
            Mode.NULLABLE,
            "The exact raw body, for replay.",
        ),
        (
            "error_type",
            _S,
            Mode.REQUIRED,
            "Short code of the failure, e.g. `invalid_json`, `missing_event_id`.",
        ),
        ("error_message", _S, Mode.NULLABLE, "What went wrong, for people."),
        ("exception_class", _S, Mode.NULLABLE, "Python class of the exception, if one was raised."),
        ("stack_trace", _S, Mode.NULLABLE, "Stack trace of that exception."),
        (
            "failed_step",
            _S,
            Mode.NULLABLE,
            "Where it failed: `parse`, `validate`, `flatten` or `write`.",
        ),
        ("kafka_topic", _S, Mode.NULLABLE, "Kafka topic the event was read from."),
        ("kafka_partition", _I, Mode.NULLABLE, "Kafka partition the event was read from."),
        ("kafka_offset", _I, Mode.NULLABLE, "Kafka offset of the event in that partition."),
        ("received_at", BigQueryType.TIMESTAMP, Mode.NULLABLE, "When the receiver accepted it."),
        (
            "failed_at",
            BigQueryType.TIMESTAMP,
            Mode.REQUIRED,
            "When it failed, UTC. The table is partitioned on its day.",
        ),
    )
)

EVENTS_TABLE = "events"
DEAD_LETTER_TABLE = "events_dead_letter"

TABLES: dict[str, Table] = {
    EVENTS_TABLE: Table(
        EVENTS_TABLE,
        "Tapcart events, one row per event received (deduplicate on `event_id`), typed "
        "columns per property group.",
        EVENT_COLUMNS,
        partition_field="event_time",
        clustering=("app_id", "event_name"),
    ),
    DEAD_LETTER_TABLE: Table(
        DEAD_LETTER_TABLE,
        "Events the pipeline could not turn into a row, with the raw payload, the error and "
        "where the event came from.",
        DEAD_LETTER_COLUMNS,
        partition_field="failed_at",
        clustering=("failed_step", "error_type"),
    ),
}

EVENT_TYPES: tuple[EventType, ...] = (
    EventType("App Installed", "AppInstalled", "applicationInstalled"),
    EventType("App Opened", "AppOpened", "applicationOpened", insights_confirmed=True),
    EventType("Session Started", "SessionStarted"),
    EventType("Account Created", "AccountCreated"),
    EventType("Logged In", None, "loggedIn"),
    EventType("Logged Out", None, "loggedOut"),
    EventType("Page Viewed", None, "pageView"),
    EventType("Product Searched", "ProductSearched", "search"),
    EventType("Collection Viewed", "CollectionViewed", "collectionViewed"),
    EventType("Wishlist Created", "WishlistCreated"),
    EventType("Wishlist Updated", "WishlistUpdated"),
    EventType("Wishlist Viewed", "WishlistViewed"),
    EventType("Wishlist Home Viewed", "WishlistHomeViewed"),
    EventType("Wishlist Item Added", None, "wishlistItemAdded"),
    EventType("Product Viewed", "ProductViewed", "productViewed"),
    EventType("Added to Cart", "AddedToCart", "cartAdd"),
    EventType("Removed from Cart", None, "cartRemove"),
    EventType("Cart Updated", "CartUpdated", "cartUpdated"),
    EventType("Cart Viewed", "CartViewed"),
    EventType("Checkout Created", "CheckoutCreated", "checkoutCreated"),
    EventType("Order Created", "OrderCreated"),
    EventType("Purchase Completed", "PurchaseCompleted", "purchaseCompleted"),
    EventType("Custom Block Viewed", "CustomBlockViewed"),
    EventType("Custom Block Interacted", "CustomBlockInteracted"),
    EventType("Discount Applied", "DiscountApplied"),
    EventType("Discount Failed", "DiscountFailed"),
    EventType("Multipage Nav Interacted", "MultipageNavInteracted"),
    EventType("Navigation Interacted", "NavigationInteracted"),
    EventType("Country Changed", "CountryChanged"),
    EventType("Push Notification Received", "PushNotificationReceived"),
    EventType("Push Notification Enabled", "PushNotificationEnabled"),
    EventType("Push Notification Disabled", "PushNotificationDisabled"),
    EventType("Push Notification Opened", None, "pushOpened"),
)


def display_names() -> dict[str, str]:
    """Wire name (either envelope) or display name -> display name."""
    names: dict[str, str] = {}
    for event_type in EVENT_TYPES:
        names[event_type.display_name] = event_type.display_name
        for wire in (event_type.insights_name, event_type.clickstream_name):
            if wire is not None:
                names[wire] = event_type.display_name
    return names


def fills(column: Column, envelope: Envelope, path: Path) -> bool:
    """Whether a value found at `path` may fill the column (else it is only compared)."""
    return column.group_copies_fill or path in column.paths.get(envelope, ())


def source_paths(column: Column, envelope: Envelope) -> tuple[Path, ...]:
    """Every path a column is read from in one envelope, highest priority first."""
    paths: list[Path] = list(column.paths.get(envelope, ()))
    if column.keys:
        for group_key in GROUPS_BY_NAME[column.group].keys.get(envelope, ()):
            paths.extend((group_key, key) for key in column.keys)
    if column.repeated_in_groups:
        groups = sorted(GROUPS, key=lambda group: group.name != column.home_group)
        for group in groups:
            paths.extend((group_key, column.name) for group_key in group.keys.get(envelope, ()))
    return tuple(dict.fromkeys(paths))
