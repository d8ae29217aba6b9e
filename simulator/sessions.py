"""What app users do: sessions of actions, independent of how Tapcart encodes them.

A session opens the app (directly, from a push or from a deep link), browses
collections, searches and products, fills a cart, and sometimes checks out
and orders. Many sessions run at once, so their actions interleave in the
stream the way concurrent users' events reach a webhook. Everything is drawn
from the caller's seeded RNG: this module is pure, with no clock and no I/O.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TypeVar

from schemas.envelope import Envelope
from simulator.catalog import App, Collection, Device, Product, Variant, build_apps, new_device
from simulator.ids import hex_id, numeric_id, uuid_text

_T = TypeVar("_T")


class Step(StrEnum):
    """One thing a user did; `envelopes` names it per envelope (or skips it)."""

    APP_INSTALLED = "app_installed"
    PUSH_RECEIVED = "push_received"
    PUSH_OPENED = "push_opened"
    APP_OPENED = "app_opened"
    SESSION_STARTED = "session_started"
    ACCOUNT_CREATED = "account_created"
    LOGGED_IN = "logged_in"
    PUSH_ENABLED = "push_enabled"
    PUSH_DISABLED = "push_disabled"
    COLLECTION_VIEWED = "collection_viewed"
    PRODUCT_SEARCHED = "product_searched"
    PRODUCT_VIEWED = "product_viewed"
    ADDED_TO_CART = "added_to_cart"
    CART_UPDATED = "cart_updated"
    CART_VIEWED = "cart_viewed"
    WISHLIST_UPDATED = "wishlist_updated"
    WISHLIST_VIEWED = "wishlist_viewed"
    CHECKOUT_CREATED = "checkout_created"
    ORDER_CREATED = "order_created"
    PURCHASE_COMPLETED = "purchase_completed"


@dataclass(frozen=True)
class Notification:
    notification_id: str
    notification_type: str
    segment_id: str | None


@dataclass(frozen=True)
class Visit:
    """One app session of one device: the context every event of it shares."""

    app: App
    device: Device
    session_id: str
    envelope: Envelope
    source: str
    customer_id: str | None
    notification: Notification | None
    # How long the device holds an event before Tapcart posts it.
    lag_ms: int


@dataclass(frozen=True)
class CartLine:
    product: Product
    variant: Variant
    quantity: int


@dataclass(frozen=True)
class Cart:
    cart_id: str
    lines: tuple[CartLine, ...] = ()

    @property
    def total_cents(self) -> int:
        return sum(line.variant.price_cents * line.quantity for line in self.lines)

    @property
    def total_items(self) -> int:
        return sum(line.quantity for line in self.lines)


@dataclass(frozen=True)
class Checkout:
    checkout_id: str
    cart: Cart
    checkout_type: str
    discount_cents: int
    gift_card_cents: int

    @property
    def subtotal_cents(self) -> int:
        return self.cart.total_cents

    @property
    def amount_cents(self) -> int:
        return self.subtotal_cents - self.discount_cents - self.gift_card_cents


@dataclass(frozen=True)
class Action:
    """One user action with everything its event bodies need."""

    step: Step
    visit: Visit
    event_id: str
    product: Product | None = None
    variant: Variant | None = None
    collection: Collection | None = None
    cart: Cart | None = None
    # Cart updates: the line's quantity after the update (0 = removed).
    quantity: int = 0
    # How the user got here (cart_add_source, product_view_source, ...).
    via: str = ""
    search_query: str = ""
    search_results: int = 0
    checkout: Checkout | None = None
    order_id: str = ""
    wishlist_size: int = 0


_SOURCES = (("direct", 0.7), ("push_notification", 0.2), ("deeplink", 0.1))
_NOTIFICATION_TYPES = ("campaign", "automation", "abandoned_cart")
_SEARCH_TERMS = ("protein", "vanilla", "shirt", "linen", "jacket", "mug", "gift", "sale", "black")

# Relative weights of the browsing moves; moves that need a product or a
# non-empty cart are only drawn when the session has one.
_BROWSE_MOVES: tuple[tuple[Step, int], ...] = (
    (Step.COLLECTION_VIEWED, 20),
    (Step.PRODUCT_SEARCHED, 10),
    (Step.PRODUCT_VIEWED, 35),
    (Step.ADDED_TO_CART, 18),
    (Step.CART_UPDATED, 7),
    (Step.CART_VIEWED, 6),
    (Step.WISHLIST_UPDATED, 4),
    (Step.WISHLIST_VIEWED, 3),
    (Step.PUSH_DISABLED, 1),
)


class _Session:
    """The state of one session while its actions are drawn."""

    def __init__(self, rng: random.Random, visit: Visit) -> None:
        self.rng = rng
        self.visit = visit
        self.product: Product | None = None
        self.collection: Collection | None = None
        self.cart = Cart(cart_id=f"c1-{hex_id(rng, 32)}")
        self.wishlist: list[Product] = []
        # What the last search found; the next product view may come from it.
        self.search_results: list[Product] = []

    def new_event_id(self) -> str:
        # Upper-case, like the event ids in Tapcart's examples.
        return uuid_text(self.rng, upper=True)

    def action(self, step: Step) -> Action:
        return Action(step, self.visit, self.new_event_id())


def session_actions(
    rng: random.Random, app: App, device: Device, *, envelope: Envelope, installed_now: bool
) -> Iterator[Action]:
    """The actions of one session, from opening the app to leaving it."""
    source = _weighted(rng, _SOURCES)
    notification = None
    if source == "push_notification":
        notification = Notification(
            notification_id=numeric_id(rng, 9),
            notification_type=rng.choice(_NOTIFICATION_TYPES),
            segment_id=numeric_id(rng, 6) if rng.random() < 0.5 else None,
        )
    visit = Visit(
        app=app,
        device=device,
        session_id=uuid_text(rng),
        envelope=envelope,
        source=source,
        customer_id=numeric_id(rng, 13) if rng.random() < 0.4 else None,
        notification=notification,
        lag_ms=rng.randrange(50, 1500),
    )
    session = _Session(rng, visit)
    if installed_now:
        yield session.action(Step.APP_INSTALLED)
    if notification is not None:
        yield session.action(Step.PUSH_RECEIVED)
        yield session.action(Step.PUSH_OPENED)
    yield session.action(Step.APP_OPENED)
    yield session.action(Step.SESSION_STARTED)
    if installed_now and rng.random() < 0.3:
        yield session.action(Step.PUSH_ENABLED)
    if installed_now and rng.random() < 0.15:
        session.visit = replace(visit, customer_id=numeric_id(rng, 13))
        yield session.action(Step.ACCOUNT_CREATED)
        yield session.action(Step.LOGGED_IN)
    elif visit.customer_id is None and rng.random() < 0.1:
        session.visit = replace(visit, customer_id=numeric_id(rng, 13))
        yield session.action(Step.LOGGED_IN)

    # A geometric number of browsing moves, mean about six.
    while rng.random() < 0.84:
        action = _browse(session)
        if action is not None:
            yield action
    yield from _checkout(session)


def _browse(session: _Session) -> Action | None:
    rng = session.rng
    app = session.visit.app
    possible = [
        (step, weight)
        for step, weight in _BROWSE_MOVES
        if (step is not Step.ADDED_TO_CART or session.product is not None)
        and (step is not Step.WISHLIST_UPDATED or session.product is not None)
        and (step not in (Step.CART_UPDATED, Step.CART_VIEWED) or session.cart.lines)
    ]
    step = _weighted(rng, possible)
    if step is Step.COLLECTION_VIEWED:
        session.collection = rng.choice(app.collections)
        session.search_results = []
        return Action(
            step, session.visit, session.new_event_id(), collection=session.collection, via="home"
        )
    if step is Step.PRODUCT_SEARCHED:
        query = rng.choice(_SEARCH_TERMS)
        matches = [p for p in app.products if query in p.title.lower() or query in p.tags]
        session.collection = None
        session.search_results = matches
        return Action(
            step,
            session.visit,
            session.new_event_id(),
            search_query=query,
            search_results=len(matches),
        )
    if step is Step.PRODUCT_VIEWED:
        return _view_product(session)
    if step is Step.ADDED_TO_CART:
        return _add_to_cart(session)
    if step is Step.CART_UPDATED:
        return _update_cart(session)
    if step is Step.CART_VIEWED:
        return Action(
            step, session.visit, session.new_event_id(), cart=session.cart, via="cart_icon"
        )
    if step is Step.WISHLIST_UPDATED:
        assert session.product is not None
        if session.product in session.wishlist:
            return None
        session.wishlist.append(session.product)
        return Action(
            step,
            session.visit,
            session.new_event_id(),
            product=session.product,
            variant=session.product.variants[0],
            wishlist_size=len(session.wishlist),
        )
    if step is Step.WISHLIST_VIEWED:
        return Action(
            step, session.visit, session.new_event_id(), wishlist_size=len(session.wishlist)
        )
    return session.action(step)


def _view_product(session: _Session) -> Action:
    rng = session.rng
    app = session.visit.app
    if session.collection is not None:
        pool = [p for p in app.products if p.collection == session.collection] or list(app.products)
        via = "collection"
    elif session.search_results:
        pool = session.search_results
        via = "search"
    else:
        pool = list(app.products)
        via = rng.choice(("home", "recommendation", "custom_block"))
    session.product = rng.choice(pool)
    return Action(
        Step.PRODUCT_VIEWED,
        session.visit,
        session.new_event_id(),
        product=session.product,
        collection=session.collection,
        via=via,
    )


def _add_to_cart(session: _Session) -> Action:
    rng = session.rng
    product = session.product
    assert product is not None
    variant = rng.choice(product.variants)
    quantity = 1 if rng.random() < 0.85 else rng.randrange(2, 4)
    lines = list(session.cart.lines)
    for index, line in enumerate(lines):
        if line.variant == variant:
            lines[index] = CartLine(product, variant, line.quantity + quantity)
            break
    else:
        lines.append(CartLine(product, variant, quantity))
    session.cart = replace(session.cart, lines=tuple(lines))
    return Action(
        Step.ADDED_TO_CART,
        session.visit,
        session.new_event_id(),
        product=product,
        variant=variant,
        collection=session.collection,
        cart=session.cart,
        quantity=quantity,
        via=rng.choice(("pdp_direct_add", "quick_add", "pdp_direct_add")),
    )


def _update_cart(session: _Session) -> Action:
    rng = session.rng
    lines = list(session.cart.lines)
    index = rng.randrange(len(lines))
    line = lines[index]
    change = rng.choice(("increase", "decrease", "remove", "variant"))
    variant = line.variant
    if change == "increase":
        quantity = line.quantity + 1
    elif change == "decrease":
        quantity = line.quantity - 1
    elif change == "remove":
        quantity = 0
    else:
        quantity = line.quantity
        variant = rng.choice(line.product.variants)
    if quantity == 0:
        del lines[index]
    else:
        lines[index] = CartLine(line.product, variant, quantity)
    session.cart = replace(session.cart, lines=tuple(lines))
    return Action(
        Step.CART_UPDATED,
        session.visit,
        session.new_event_id(),
        product=line.product,
        variant=variant,
        collection=line.product.collection,
        cart=session.cart,
        quantity=quantity,
        via="remove" if quantity == 0 else ("variant_change" if change == "variant" else change),
    )


def _checkout(session: _Session) -> Iterator[Action]:
    rng = session.rng
    if not session.cart.lines or rng.random() >= 0.35:
        return
    discount = session.cart.total_cents // 10 if rng.random() < 0.25 else 0
    gift_card = min(2500, session.cart.total_cents - discount) if rng.random() < 0.05 else 0
    checkout = Checkout(
        checkout_id=hex_id(rng, 32),
        cart=session.cart,
        checkout_type=rng.choice(("native", "web")),
        discount_cents=discount,
        gift_card_cents=gift_card,
    )
    yield Action(
        Step.CHECKOUT_CREATED,
        session.visit,
        session.new_event_id(),
        cart=session.cart,
        checkout=checkout,
        via="cart",
    )
    if rng.random() < 0.65:
        order_id = numeric_id(rng, 13)
        yield Action(
            Step.ORDER_CREATED,
            session.visit,
            session.new_event_id(),
            cart=session.cart,
            checkout=checkout,
            order_id=order_id,
        )
        yield Action(
            Step.PURCHASE_COMPLETED,
            session.visit,
            session.new_event_id(),
            cart=session.cart,
            checkout=checkout,
            order_id=order_id,
        )


def interleaved_actions(
    rng: random.Random,
    apps: Sequence[App],
    *,
    users: int,
    clickstream_share: float,
    new_device_share: float = 0.15,
) -> Iterator[Action]:
    """An endless stream of actions from `users` concurrent sessions across `apps`."""
    # Returning customers' devices, per app; a device runs one session at a time.
    idle: dict[str, list[Device]] = {
        app.app_id: [new_device(rng) for _ in range(users)] for app in apps
    }

    def start_session() -> tuple[Iterator[Action], App, Device]:
        app = rng.choice(apps)
        pool = idle[app.app_id]
        installed_now = not pool or rng.random() < new_device_share
        device = new_device(rng) if installed_now else pool.pop(rng.randrange(len(pool)))
        envelope = Envelope.CLICKSTREAM if rng.random() < clickstream_share else Envelope.INSIGHTS
        # A session of its own RNG: its content does not depend on the interleaving.
        session_rng = random.Random(rng.getrandbits(64))
        actions = session_actions(
            session_rng, app, device, envelope=envelope, installed_now=installed_now
        )
        return actions, app, device

    live = [start_session() for _ in range(users)]
    while True:
        index = rng.randrange(len(live))
        actions, app, device = live[index]
        action = next(actions, None)
        if action is None:
            idle[app.app_id].append(device)
            live[index] = start_session()
            continue
        yield action


def story(
    seed: int | str, *, apps: int, users: int, clickstream_share: float
) -> tuple[tuple[App, ...], Iterator[Action]]:
    """The apps and the endless action stream a seed stands for."""
    rng = random.Random(f"{seed}:story")
    built = build_apps(rng, apps)
    return built, interleaved_actions(rng, built, users=users, clickstream_share=clickstream_share)


def _weighted(rng: random.Random, choices: Sequence[tuple[_T, float]]) -> _T:
    values = [value for value, _ in choices]
    weights = [weight for _, weight in choices]
    return rng.choices(values, weights=weights)[0]
