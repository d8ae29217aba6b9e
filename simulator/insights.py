"""Insights (legacy) bodies: the envelope, five property groups, and Tapcart's traps.

`event_type`, `metadata.schema_id`, the ids, `timestamp` (epoch ms),
`timestamp_iso` (with the device's offset), sometimes `ip`, and the
property groups, with the per-event `event_properties` Tapcart documents.
The traps of Tapcart's own examples are reproduced on purpose, at random:
numbers as strings, empty values as `""` or `null`, lists as `[""]`,
`variant_options_updated` as JSON inside a string, `event_id` repeated in
`event_properties`, and the PascalCase group names of the oldest app build.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import orjson

from schemas.envelope import Envelope
from simulator.catalog import Product, Variant
from simulator.ids import numeric_id
from simulator.sessions import Action, Cart, Step
from simulator.wire import Payload, WireEvent, money_text

SCHEMA_VERSION = "5_0_0"

# Wire names per step; a step missing from a table has no event in that envelope.
INSIGHTS_NAMES: dict[Step, str] = {
    Step.APP_INSTALLED: "AppInstalled",
    Step.PUSH_RECEIVED: "PushNotificationReceived",
    Step.APP_OPENED: "AppOpened",
    Step.SESSION_STARTED: "SessionStarted",
    Step.ACCOUNT_CREATED: "AccountCreated",
    Step.PUSH_ENABLED: "PushNotificationEnabled",
    Step.PUSH_DISABLED: "PushNotificationDisabled",
    Step.COLLECTION_VIEWED: "CollectionViewed",
    Step.PRODUCT_SEARCHED: "ProductSearched",
    Step.PRODUCT_VIEWED: "ProductViewed",
    Step.ADDED_TO_CART: "AddedToCart",
    Step.CART_UPDATED: "CartUpdated",
    Step.CART_VIEWED: "CartViewed",
    Step.WISHLIST_UPDATED: "WishlistUpdated",
    Step.WISHLIST_VIEWED: "WishlistViewed",
    Step.CHECKOUT_CREATED: "CheckoutCreated",
    Step.ORDER_CREATED: "OrderCreated",
    Step.PURCHASE_COMPLETED: "PurchaseCompleted",
}
# The oldest app build sends the property groups under the seed document's names.
PASCAL_CASE_BUILD = "5.12.0"
_PASCAL_GROUPS = {
    "device_properties": "DeviceProperties",
    "session_properties": "SessionProperties",
    "event_properties": "EventProperties",
    "shopify_properties": "ShopifyProperties",
    "app_properties": "AppProperties",
}
_SDK_VERSION = "tapcart-insights/5.0.0"


class _Traps:
    """The inconsistent encodings of Tapcart's own examples, drawn at random."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def money(self, cents: int) -> str | float:
        text = money_text(cents)
        return text if self.rng.random() < 0.85 else float(text)

    def count(self, value: int) -> str | int:
        return str(value) if self.rng.random() < 0.85 else value

    def empty(self) -> str | None:
        return self.rng.choice(("", None))

    def text(self, value: str | None) -> str | None:
        return value if value else self.empty()

    def text_list(self, values: list[str]) -> list[str] | None:
        if values:
            return values
        return self.rng.choice(([""], [""], [], None))


def build_insights(action: Action, occurred_ms: int, rng: random.Random) -> WireEvent | None:
    """The Insights body of `action`; None for a step Insights has no event for."""
    name = INSIGHTS_NAMES.get(action.step)
    if name is None:
        return None
    traps = _Traps(rng)
    visit = action.visit
    device = visit.device
    app = visit.app
    groups: Payload = {
        "session_properties": {"session_id": visit.session_id, "source": visit.source},
        "device_properties": {
            "device_id": device.device_id,
            "platform": device.platform,
            "os_version": device.os_version,
            "device_model": device.model,
            "locale": device.locale,
        },
        "app_properties": {
            "app_id": app.app_id,
            "app_version": device.app_version,
            "sdk_version": _SDK_VERSION,
        },
        "shopify_properties": {
            "shop_domain": app.shop_domain,
            "customer_id": traps.text(visit.customer_id),
            "currency_code": app.currency,
        },
        "event_properties": _INSIGHTS_PROPERTIES[action.step](action, traps),
    }
    if device.app_version == PASCAL_CASE_BUILD:
        groups = {_PASCAL_GROUPS[key]: value for key, value in groups.items()}
    payload: Payload = {
        "event_type": name,
        "metadata": {"schema_id": f"Event_{name}_{SCHEMA_VERSION}"},
        "event_id": action.event_id,
        "session_id": visit.session_id,
        "device_id": device.device_id,
        "app_id": app.app_id,
        "timestamp": occurred_ms,
        "timestamp_iso": _local_iso(occurred_ms, device.utc_offset_minutes),
    }
    if app.sends_ip:
        payload["ip"] = device.ip
    payload.update(groups)
    return WireEvent(
        envelope=Envelope.INSIGHTS,
        event_id=action.event_id,
        event_name=name,
        app_id=app.app_id,
        payload=payload,
    )


def _local_iso(epoch_ms: int, offset_minutes: int) -> str:
    zone = timezone(timedelta(minutes=offset_minutes))
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=zone)
    return moment.isoformat(timespec="milliseconds")


def _with_id(properties: Payload, action: Action) -> Payload:
    return {"event_id": action.event_id, **properties}


def _source(action: Action, traps: _Traps) -> str | None:
    # "source" is stamped on every event of a session, yet Added to Cart's example has null.
    if action.step is Step.ADDED_TO_CART and traps.rng.random() < 0.5:
        return None
    return action.visit.source


def _app_opened(action: Action, traps: _Traps) -> Payload:
    note = action.visit.notification
    return _with_id(
        {
            "app_open_source": action.visit.source,
            "notification_id": note.notification_id if note else None,
            "notification_type": note.notification_type if note else None,
            "segment_id": note.segment_id if note else None,
        },
        action,
    )


def _push_received(action: Action, traps: _Traps) -> Payload:
    note = action.visit.notification
    assert note is not None
    return _with_id(
        {
            "notification_id": note.notification_id,
            "notification_type": note.notification_type,
            "segment_id": traps.text(note.segment_id),
        },
        action,
    )


def _only_source(action: Action, traps: _Traps) -> Payload:
    return _with_id({"source": action.visit.source}, action)


def _account_created(action: Action, traps: _Traps) -> Payload:
    return _with_id(
        {"source": action.visit.source, "customer_id": action.visit.customer_id}, action
    )


def _product_searched(action: Action, traps: _Traps) -> Payload:
    return _with_id(
        {
            "source": action.visit.source,
            "search_query": action.search_query,
            "search_results_count": traps.count(action.search_results),
        },
        action,
    )


def _collection_viewed(action: Action, traps: _Traps) -> Payload:
    collection = action.collection
    assert collection is not None
    return _with_id(
        {
            "source": action.visit.source,
            "collection_id": collection.collection_id,
            "collection_title": collection.title,
            "collection_view_source": action.via,
            "multi_currency_code": traps.text(action.visit.app.currency),
        },
        action,
    )


def _badges(product: Product, traps: _Traps) -> Payload:
    return {
        "product_badge_titles_list": traps.text_list([b.title for b in product.badges]),
        "product_badge_ids_list": traps.text_list([b.badge_id for b in product.badges]),
        "product_badge_positioning_list": traps.text_list([b.position for b in product.badges]),
    }


def _custom_block(action: Action, traps: _Traps) -> Payload:
    if action.via == "custom_block":
        block = numeric_id(traps.rng, 6)
        return {
            "custom_block_id": block,
            "custom_block_source_url": f"https://{action.visit.app.shop_domain}/blocks/{block}",
        }
    return {"custom_block_id": traps.empty(), "custom_block_source_url": traps.empty()}


def _collection_fields(action: Action, traps: _Traps) -> Payload:
    collection = action.collection
    return {
        "collection_id": collection.collection_id if collection else traps.empty(),
        "collection_title": collection.title if collection else traps.empty(),
    }


def _product_viewed(action: Action, traps: _Traps) -> Payload:
    product = action.product
    assert product is not None
    return {
        "source": _source(action, traps),
        "event_id": action.event_id,
        **_collection_fields(action, traps),
        "product_id": product.product_id,
        "product_title": product.title,
        "product_type": product.product_type,
        "product_price": traps.money(product.variants[0].price_cents),
        "product_view_source": action.via,
        "multi_currency_code": traps.text(action.visit.app.currency),
        "product_tags_list": traps.text_list(list(product.tags)),
        **_badges(product, traps),
        **_custom_block(action, traps),
    }


def _cart_totals(cart: Cart, traps: _Traps) -> Payload:
    return {
        "cart_total_price": traps.money(cart.total_cents),
        "cart_total_items": traps.count(cart.total_items),
        "cart_total_items_list": traps.text_list([line.product.title for line in cart.lines]),
    }


def _added_to_cart(action: Action, traps: _Traps) -> Payload:
    product, variant, cart = action.product, action.variant, action.cart
    assert product is not None and variant is not None and cart is not None
    return {
        "source": _source(action, traps),
        "product_id": product.product_id,
        "product_title": product.title,
        "product_type": product.product_type,
        "variant_id": variant.variant_id,
        # Tapcart's docs call it variant_title; the payload carries variant_name.
        "variant_name": variant.name,
        "variant_price": traps.money(variant.price_cents),
        "event_id": action.event_id,
        "cart_add_source": action.via,
        "cart_add_type": "product_add",
        **_collection_fields(action, traps),
        "multi_currency_code": traps.text(action.visit.app.currency),
        **_cart_totals(cart, traps),
        **_badges(product, traps),
        **_custom_block(action, traps),
    }


def _variant_options(variant: Variant) -> str:
    return orjson.dumps([{"name": variant.option_name, "value": variant.name}]).decode()


def _cart_updated(action: Action, traps: _Traps) -> Payload:
    product, variant, cart = action.product, action.variant, action.cart
    assert product is not None and variant is not None and cart is not None
    # A JSON document inside a string, as in Tapcart's example; empty unless options changed.
    options = (
        _variant_options(variant)
        if action.via == "variant_change"
        else traps.rng.choice(("", "[]"))
    )
    return {
        "event_id": action.event_id,
        "quantity_updated": traps.count(action.quantity),
        "variant_options_updated": options,
        "product_id": product.product_id,
        "variant_name": variant.name,
        "variant_id": variant.variant_id,
        "cart_id": cart.cart_id,
        "product_title": product.title,
        "product_type": product.product_type,
        "variant_price": traps.money(variant.price_cents),
        **_collection_fields(action, traps),
        "multi_currency_code": traps.text(action.visit.app.currency),
        "product_tags_list": traps.text_list(list(product.tags)),
        **_cart_totals(cart, traps),
        "cart_total_product_id_list": traps.text_list(
            [line.product.product_id for line in cart.lines]
        ),
        **_badges(product, traps),
        "update_type": action.via,
        "cart_update_source": "cart",
    }


def _cart_viewed(action: Action, traps: _Traps) -> Payload:
    cart = action.cart
    assert cart is not None
    return _with_id(
        {"source": action.visit.source, "cart_id": cart.cart_id, **_cart_totals(cart, traps)},
        action,
    )


def _wishlist_updated(action: Action, traps: _Traps) -> Payload:
    product, variant = action.product, action.variant
    assert product is not None and variant is not None
    return _with_id(
        {
            "source": action.visit.source,
            "product_id": product.product_id,
            "product_title": product.title,
            "variant_id": variant.variant_id,
            "update_type": "item_added",
            "wishlist_total_items": traps.count(action.wishlist_size),
        },
        action,
    )


def _wishlist_viewed(action: Action, traps: _Traps) -> Payload:
    return _with_id(
        {"source": action.visit.source, "wishlist_total_items": traps.count(action.wishlist_size)},
        action,
    )


def _checkout_created(action: Action, traps: _Traps) -> Payload:
    checkout = action.checkout
    assert checkout is not None
    cart = checkout.cart
    currency = action.visit.app.currency
    return {
        "source": action.visit.source,
        "event_id": action.event_id,
        "currency_code": currency,
        "checkout_type": checkout.checkout_type,
        "checkout_id": checkout.checkout_id,
        "checkout_amount": traps.money(checkout.amount_cents),
        "checkout_source_type": "cart",
        "checkout_source_id": cart.cart_id,
        "checkout_source_title": "Cart",
        "multi_currency_code": traps.text(currency),
        "checkout_total_items": traps.count(cart.total_items),
        "checkout_subtotal": traps.money(checkout.subtotal_cents),
        "checkout_items_list": [line.product.title for line in cart.lines],
        "total_discount_amount": traps.money(checkout.discount_cents),
        "total_gift_card_amount_applied": traps.money(checkout.gift_card_cents),
        "cart_id": cart.cart_id,
    }


def _order_created(action: Action, traps: _Traps) -> Payload:
    checkout = action.checkout
    assert checkout is not None
    # Documented with these four fields only: no event_id repeated here.
    return {
        "order_id": action.order_id,
        "checkout_id": checkout.checkout_id,
        "currency_code": action.visit.app.currency,
        "total_price": traps.money(checkout.amount_cents),
    }


def _purchase_completed(action: Action, traps: _Traps) -> Payload:
    checkout = action.checkout
    assert checkout is not None
    return _with_id(
        {
            "order_id": action.order_id,
            "checkout_id": checkout.checkout_id,
            "currency_code": action.visit.app.currency,
            "total_price": traps.money(checkout.amount_cents),
            "total_items": traps.count(checkout.cart.total_items),
        },
        action,
    )


_INSIGHTS_PROPERTIES: dict[Step, Callable[[Action, _Traps], Payload]] = {
    Step.APP_INSTALLED: _only_source,
    Step.PUSH_RECEIVED: _push_received,
    Step.APP_OPENED: _app_opened,
    Step.SESSION_STARTED: _only_source,
    Step.ACCOUNT_CREATED: _account_created,
    Step.PUSH_ENABLED: _only_source,
    Step.PUSH_DISABLED: _only_source,
    Step.COLLECTION_VIEWED: _collection_viewed,
    Step.PRODUCT_SEARCHED: _product_searched,
    Step.PRODUCT_VIEWED: _product_viewed,
    Step.ADDED_TO_CART: _added_to_cart,
    Step.CART_UPDATED: _cart_updated,
    Step.CART_VIEWED: _cart_viewed,
    Step.WISHLIST_UPDATED: _wishlist_updated,
    Step.WISHLIST_VIEWED: _wishlist_viewed,
    Step.CHECKOUT_CREATED: _checkout_created,
    Step.ORDER_CREATED: _order_created,
    Step.PURCHASE_COMPLETED: _purchase_completed,
}
