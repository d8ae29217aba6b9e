"""Clickstream (newer) bodies: `event`, `data`, `properties`, `mp_metadata`, and headers.

`mp_metadata` carries `mp_event_id` (the dedupe key) and `mp_session_id`;
the request carries the `appid`, `eventtype`, `deviceid` and `eventid`
headers. What goes inside `data` and `properties` is not public: the
bodies follow Shopify's Storefront shapes (money as `{"amount": "79.99",
"currencyCode": "USD"}`), with the event time in `properties.timestamp`
(ISO-8601 UTC) and the app id in `properties.app_id`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from schemas.envelope import Envelope
from simulator.catalog import Product, Variant
from simulator.sessions import Action, Cart, Step
from simulator.wire import Headers, Payload, WireEvent, money_text

CLICKSTREAM_NAMES: dict[Step, str] = {
    Step.APP_INSTALLED: "applicationInstalled",
    Step.PUSH_OPENED: "pushOpened",
    Step.APP_OPENED: "applicationOpened",
    Step.LOGGED_IN: "loggedIn",
    Step.COLLECTION_VIEWED: "collectionViewed",
    Step.PRODUCT_SEARCHED: "search",
    Step.PRODUCT_VIEWED: "productViewed",
    Step.ADDED_TO_CART: "cartAdd",
    Step.CART_UPDATED: "cartUpdated",
    Step.CART_VIEWED: "pageView",
    Step.WISHLIST_UPDATED: "wishlistItemAdded",
    Step.WISHLIST_VIEWED: "pageView",
    Step.CHECKOUT_CREATED: "checkoutCreated",
    Step.PURCHASE_COMPLETED: "purchaseCompleted",
}


def build_clickstream(action: Action, occurred_ms: int) -> WireEvent | None:
    """The Clickstream body of `action`; None for a step Clickstream has no event for."""
    name = CLICKSTREAM_NAMES.get(action.step)
    if name is None:
        return None
    if action.step is Step.CART_UPDATED and action.quantity == 0:
        name = "cartRemove"
    visit = action.visit
    device = visit.device
    app = visit.app
    payload: Payload = {
        "event": name,
        "data": _CLICKSTREAM_DATA[action.step](action),
        "properties": {
            "app_id": app.app_id,
            "device_id": device.device_id,
            "session_id": visit.session_id,
            "customer_id": visit.customer_id,
            "platform": device.platform,
            "os_version": device.os_version,
            "app_version": device.app_version,
            "locale": device.locale,
            "timestamp": _utc_iso(occurred_ms),
        },
        "mp_metadata": {"mp_event_id": action.event_id, "mp_session_id": visit.session_id},
    }
    headers: Headers = (
        ("appid", app.app_id),
        ("eventtype", name),
        ("deviceid", device.device_id),
        ("eventid", action.event_id),
    )
    return WireEvent(
        envelope=Envelope.CLICKSTREAM,
        event_id=action.event_id,
        event_name=name,
        app_id=app.app_id,
        payload=payload,
        headers=headers,
    )


def _utc_iso(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _money(cents: int, currency: str) -> Payload:
    return {"amount": money_text(cents), "currencyCode": currency}


def _product_data(product: Product, variant: Variant | None, currency: str) -> Payload:
    chosen = variant or product.variants[0]
    return {
        "id": product.product_id,
        "title": product.title,
        "productType": product.product_type,
        "tags": list(product.tags),
        "variant": {
            "id": chosen.variant_id,
            "title": chosen.name,
            "price": _money(chosen.price_cents, currency),
        },
    }


def _lines_data(cart: Cart, currency: str) -> list[Payload]:
    return [
        {
            "productId": line.product.product_id,
            "variantId": line.variant.variant_id,
            "quantity": line.quantity,
            "price": _money(line.variant.price_cents, currency),
        }
        for line in cart.lines
    ]


def _cs_source(action: Action) -> Payload:
    return {"source": action.visit.source}


def _cs_push_opened(action: Action) -> Payload:
    note = action.visit.notification
    assert note is not None
    return {"notificationId": note.notification_id, "campaignType": note.notification_type}


def _cs_logged_in(action: Action) -> Payload:
    return {"customerId": action.visit.customer_id}


def _cs_search(action: Action) -> Payload:
    return {"query": action.search_query, "resultsCount": action.search_results}


def _cs_collection(action: Action) -> Payload:
    collection = action.collection
    assert collection is not None
    return {"collection": {"id": collection.collection_id, "title": collection.title}}


def _cs_product(action: Action) -> Payload:
    assert action.product is not None
    currency = action.visit.app.currency
    return {
        "product": _product_data(action.product, action.variant, currency),
        "collectionId": action.collection.collection_id if action.collection else None,
        "source": action.via,
    }


def _cs_cart(action: Action) -> Payload:
    assert action.product is not None and action.cart is not None
    currency = action.visit.app.currency
    cart = action.cart
    return {
        "cartId": cart.cart_id,
        "product": _product_data(action.product, action.variant, currency),
        "quantity": action.quantity,
        "lines": _lines_data(cart, currency),
        "totalPrice": _money(cart.total_cents, currency),
    }


def _cs_page(action: Action) -> Payload:
    if action.step is Step.CART_VIEWED:
        assert action.cart is not None
        return {"pageType": "cart", "path": "/cart", "cartId": action.cart.cart_id}
    return {"pageType": "wishlist", "path": "/wishlist", "itemCount": action.wishlist_size}


def _cs_checkout(action: Action) -> Payload:
    checkout = action.checkout
    assert checkout is not None
    currency = action.visit.app.currency
    data: Payload = {
        "checkoutId": checkout.checkout_id,
        "cartId": checkout.cart.cart_id,
        "subtotalPrice": _money(checkout.subtotal_cents, currency),
        "totalPrice": _money(checkout.amount_cents, currency),
        "totalDiscount": _money(checkout.discount_cents, currency),
        "lineItems": _lines_data(checkout.cart, currency),
    }
    if action.order_id:
        data["orderId"] = action.order_id
    return data


_CLICKSTREAM_DATA: dict[Step, Callable[[Action], Payload]] = {
    Step.APP_INSTALLED: _cs_source,
    Step.PUSH_OPENED: _cs_push_opened,
    Step.APP_OPENED: _cs_source,
    Step.LOGGED_IN: _cs_logged_in,
    Step.COLLECTION_VIEWED: _cs_collection,
    Step.PRODUCT_SEARCHED: _cs_search,
    Step.PRODUCT_VIEWED: _cs_product,
    Step.ADDED_TO_CART: _cs_cart,
    Step.CART_UPDATED: _cs_cart,
    Step.CART_VIEWED: _cs_page,
    Step.WISHLIST_UPDATED: _cs_product,
    Step.WISHLIST_VIEWED: _cs_page,
    Step.CHECKOUT_CREATED: _cs_checkout,
    Step.PURCHASE_COMPLETED: _cs_checkout,
}
