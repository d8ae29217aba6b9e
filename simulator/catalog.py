"""The merchants' apps, what they sell, and the devices their customers use.

A small, plausible Shopify catalog per app, drawn from a seeded RNG: the
sessions pick products, variants and collections from it so that ids,
titles and prices stay consistent across the events of one session.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from simulator.ids import alphanumeric_id, numeric_id, uuid_text

# Per shop theme: product types with the nouns of their titles, and the
# option a variant differs by.
_THEMES: dict[str, dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]]] = {
    "apparel": {
        "Shirts": (("Oxford Shirt", "Linen Shirt", "Flannel Shirt"), "Size", ("S", "M", "L", "XL")),
        "Outerwear": (("Rain Jacket", "Wool Coat", "Puffer Vest"), "Size", ("S", "M", "L")),
        "Accessories": (("Canvas Tote", "Beanie", "Leather Belt"), "Color", ("Black", "Olive")),
    },
    "supplements": {
        "Supplement": (
            ("Meal Supplement", "Whey Protein", "Plant Protein"),
            "Flavor",
            ("Vanilla", "Chocolate", "Unflavored"),
        ),
        "Vitamins": (
            ("Daily Multivitamin", "Vitamin D3", "Magnesium Glycinate"),
            "Count",
            ("60", "120"),
        ),
        "Snacks": (("Protein Bar", "Nut Butter Cup"), "Pack", ("6-pack", "12-pack")),
    },
    "home": {
        "Kitchen": (
            ("Ceramic Mug", "Pour-Over Kettle", "Chef Knife"),
            "Color",
            ("White", "Slate", "Sand"),
        ),
        "Bedding": (
            ("Percale Sheet Set", "Down Pillow", "Waffle Blanket"),
            "Size",
            ("Twin", "Queen", "King"),
        ),
        "Decor": (("Linen Throw", "Stoneware Vase"), "Color", ("Natural", "Charcoal")),
    },
}
_ADJECTIVES = ("Classic", "Everyday", "Organic", "Heritage", "Lightweight", "Premium", "Essential")
_TAGS = ("new", "bestseller", "sale", "limited", "eco", "gift", "restock")
_BADGES = ("New", "Best Seller", "Low Stock", "Sale")
_CURRENCIES = ("USD", "USD", "USD", "CAD", "GBP", "EUR")
# App builds in the field, weighted; the oldest is a small tail of devices.
_APP_VERSIONS = (("5.12.0", 1), ("5.13.1", 3), ("5.14.0", 4), ("6.0.2", 4))

# (platform, os versions, models); the share of iOS is roughly what Shopify
# mobile apps see in North America.
_PLATFORMS = (
    ("ios", ("16.7.8", "17.5.1", "17.6", "18.0.1"), ("iPhone14,5", "iPhone15,2", "iPhone16,1")),
    ("ios", ("17.5.1", "18.0.1", "18.1"), ("iPhone13,2", "iPhone15,3")),
    ("android", ("13", "14", "15"), ("SM-S918B", "Pixel 8", "Pixel 7a", "moto g 5G")),
)
# Locale and UTC offset in minutes; timestamp_iso carries the device's offset.
_LOCALES = (
    ("en-US", -420),
    ("en-US", -300),
    ("en-US", -480),
    ("en-CA", -240),
    ("en-GB", 60),
    ("de-DE", 120),
    ("en-AU", 600),
)


@dataclass(frozen=True)
class Collection:
    collection_id: str
    title: str


@dataclass(frozen=True)
class Badge:
    badge_id: str
    title: str
    position: str


@dataclass(frozen=True)
class Variant:
    variant_id: str
    name: str
    option_name: str
    price_cents: int


@dataclass(frozen=True)
class Product:
    product_id: str
    title: str
    product_type: str
    tags: tuple[str, ...]
    badges: tuple[Badge, ...]
    variants: tuple[Variant, ...]
    collection: Collection


@dataclass(frozen=True)
class App:
    """One merchant's Tapcart app."""

    app_id: str
    shop_domain: str
    currency: str
    products: tuple[Product, ...]
    collections: tuple[Collection, ...]
    # Only some of Tapcart's examples carry a top-level `ip`; model it per app.
    sends_ip: bool


@dataclass(frozen=True)
class Device:
    device_id: str
    platform: str
    os_version: str
    model: str
    locale: str
    utc_offset_minutes: int
    app_version: str
    ip: str


def build_apps(rng: random.Random, count: int) -> tuple[App, ...]:
    """`count` merchant apps, each with its own catalog."""
    themes = sorted(_THEMES)
    return tuple(_build_app(rng, themes[index % len(themes)]) for index in range(count))


def _build_app(rng: random.Random, theme: str) -> App:
    app_id = alphanumeric_id(rng, 10)
    collections: list[Collection] = []
    products: list[Product] = []
    for product_type, (nouns, option_name, options) in sorted(_THEMES[theme].items()):
        collection = Collection(numeric_id(rng, 12), product_type)
        collections.append(collection)
        for noun in nouns:
            adjective = rng.choice(_ADJECTIVES)
            base_cents = rng.randrange(8, 160) * 100 + rng.choice((0, 50, 95, 99))
            variants = tuple(
                Variant(
                    variant_id=numeric_id(rng, 14),
                    name=option,
                    option_name=option_name,
                    price_cents=base_cents + step * rng.choice((0, 0, 500)),
                )
                for step, option in enumerate(options)
            )
            badges = tuple(
                Badge(numeric_id(rng, 6), title, rng.choice(("top_left", "top_right")))
                for title in rng.sample(_BADGES, rng.choice((0, 0, 1, 2)))
            )
            products.append(
                Product(
                    product_id=numeric_id(rng, 13),
                    title=f"{adjective} {noun}",
                    product_type=product_type,
                    tags=tuple(rng.sample(_TAGS, rng.randrange(0, 3))),
                    badges=badges,
                    variants=variants,
                    collection=collection,
                )
            )
    return App(
        app_id=app_id,
        shop_domain=f"{theme}-{app_id.lower()[:6]}.myshopify.com",
        currency=rng.choice(_CURRENCIES),
        products=tuple(products),
        collections=tuple(collections),
        sends_ip=rng.random() < 0.5,
    )


def new_device(rng: random.Random) -> Device:
    platform, os_versions, models = rng.choice(_PLATFORMS)
    locale, offset = rng.choice(_LOCALES)
    # iOS reports an upper-case vendor UUID, Android a 16-hex-digit id.
    device_id = uuid_text(rng, upper=True) if platform == "ios" else f"{rng.getrandbits(64):016x}"
    return Device(
        device_id=device_id,
        platform=platform,
        os_version=rng.choice(os_versions),
        model=rng.choice(models),
        locale=locale,
        utc_offset_minutes=offset,
        app_version=rng.choices(
            [version for version, _ in _APP_VERSIONS], [weight for _, weight in _APP_VERSIONS]
        )[0],
        # Documentation ranges (RFC 5737): plausible, and never a real user.
        ip=f"{rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{rng.randrange(1, 255)}",
    )
