"""Load the price catalog the settings point at (JSON), or the demo catalog when none is configured."""

from __future__ import annotations

import orjson

from billing.invoicing.rules.catalog import Catalog, demo_catalog
from billing.platform.settings import Settings


class CatalogLoadError(RuntimeError):
    pass


def load_catalog(settings: Settings) -> Catalog:
    if settings.catalog_path is None:
        return demo_catalog()
    try:
        return Catalog.from_dict(orjson.loads(settings.catalog_path.read_bytes()))
    except (OSError, orjson.JSONDecodeError) as error:
        raise CatalogLoadError(f"cannot read the catalog at {settings.catalog_path}: {error}") from error
