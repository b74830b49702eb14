"""Refresh tools/prices.json from the AWS Price List bulk files for Amazon SageMaker (real-time inference hosting).

The Price List Bulk API serves, per service, an offer file (JSON, "Reading the service price list file for an AWS
service", AWS Billing User Guide): ``products`` by SKU, each with a ``productFamily`` and ``attributes``, and
``terms.OnDemand[sku][offerTermCode].priceDimensions[rateCode]`` with a ``unit`` and ``pricePerUnit.USD``. A
SageMaker hosting instance is a product of family ``ML Instance`` whose ``component`` is ``Hosting``, with its
``regionCode``, its ``instanceName`` (``ml.m5.large``) and a usage type ``<REGION PREFIX>-Host:<instance>``
(``EU-Host:ml.m5.large``, ``USE1-Host:ml.m5.xlarge``); its on-demand price is in USD per ``Hrs``.

Which prices: every (region, instance type) already in the table, those the endpoints of ``--assembly`` use, and
``--add REGION:INSTANCE_TYPE``. Where from: ``--offer FILE`` (an offer file on disk, the whole service's or one
region's), or else each region's current offer file, found through the service's ``region_index.json`` at
``--endpoint`` (https://pricing.us-east-1.amazonaws.com; public, no credentials). A price read here is recorded with
its offer version, publication date, SKU and usage type, and is no longer an estimate; one the offer files do not
have is kept as it was (and named on stderr).

Usage: python -m tools.refresh_prices [--assembly cdk.out] [--add eu-west-1:ml.g5.xlarge] [--offer index.json]
       [--output tools/prices.json]
Exit codes: 0 every wanted price read; 1 some not found (the others are still written); 2 bad arguments or files.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
import tempfile
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRICES = Path(__file__).with_name("prices.json")
ENDPOINT = "https://pricing.us-east-1.amazonaws.com"
SERVICE = "AmazonSageMaker"
REGION_INDEX = f"/offers/v1.0/aws/{SERVICE}/current/region_index.json"


@dataclass(frozen=True)
class ListedPrice:
    """An on-demand hosting price read from an offer file."""

    region: str
    instance_type: str
    usd_per_hour: float
    sku: str
    usage_type: str
    version: str
    published: str

    def entry(self) -> dict[str, Any]:
        """The price table's entry for it."""
        return {
            "usd_per_hour": self.usd_per_hour,
            "source": (
                f"AWS Price List, {SERVICE} offer {self.version} (published {self.published}), SKU {self.sku}, "
                f"usage type {self.usage_type}"
            ),
            "estimate": False,
        }


def _is_hosting(product: dict[str, Any]) -> bool:
    attributes = product.get("attributes", {})
    usage = str(attributes.get("usagetype", ""))
    # The usage type confirms it: hosting instance-hours are <PREFIX>-Host:<instance>; storage and data transfer
    # of endpoints share the component but not this usage type.
    return (
        product.get("productFamily") == "ML Instance"
        and attributes.get("component") == "Hosting"
        and usage.split("-", 1)[-1].startswith("Host:ml.")
    )


def _instance(attributes: dict[str, Any]) -> str:
    """The instance type: ``instanceName`` (``instanceType`` has been seen with a suffix, ``...-hosting``)."""
    return str(attributes.get("instanceName") or str(attributes.get("instanceType", "")).removesuffix("-hosting"))


def _hourly(terms: dict[str, Any]) -> float | None:
    """A SKU's on-demand USD per hour: its price dimension in ``Hrs`` that is not a tier (range to ``Inf``)."""
    prices = [
        float(dimension["pricePerUnit"]["USD"])
        for term in terms.values()
        for dimension in term.get("priceDimensions", {}).values()
        if dimension.get("unit") == "Hrs"
        and "USD" in dimension.get("pricePerUnit", {})
        and dimension.get("endRange", "Inf") == "Inf"
    ]
    return prices[0] if len(set(prices)) == 1 else None


def read_offer(offer: dict[str, Any]) -> list[ListedPrice]:
    """Every SageMaker hosting instance's on-demand price in an offer file."""
    if offer.get("offerCode") not in (None, SERVICE):
        raise ValueError(f"an offer file of {offer.get('offerCode')}, not {SERVICE}")
    on_demand = offer.get("terms", {}).get("OnDemand", {})
    found = []
    for sku, product in offer.get("products", {}).items():
        if not _is_hosting(product) or sku not in on_demand:
            continue
        hourly = _hourly(on_demand[sku])
        if hourly is None:
            continue
        attributes = product["attributes"]
        found.append(
            ListedPrice(
                region=str(attributes.get("regionCode", "")),
                instance_type=_instance(attributes),
                usd_per_hour=hourly,
                sku=sku,
                usage_type=str(attributes["usagetype"]),
                version=str(offer.get("version", "?")),
                published=str(offer.get("publicationDate", "?")),
            )
        )
    return found


def region_urls(index: dict[str, Any], endpoint: str, regions: Iterable[str]) -> dict[str, str]:
    """Each region's current offer file URL, from the service's ``region_index.json``."""
    listed = index.get("regions", {})
    return {r: endpoint.rstrip("/") + listed[r]["currentVersionUrl"] for r in sorted(set(regions)) if r in listed}


def _download(url: str) -> dict[str, Any]:
    """A JSON document from ``url`` (https, or file for tests), through a temporary file: a region's offer file
    is tens of megabytes."""
    with urllib.request.urlopen(url, timeout=120) as response, tempfile.TemporaryFile() as copy:
        shutil.copyfileobj(response, copy)
        copy.seek(0)
        loaded: dict[str, Any] = json.load(copy)
    return loaded


def wanted(table: dict[str, Any], assembly: Path | None, added: Sequence[str]) -> set[tuple[str, str]]:
    """The (region, instance type) pairs to price."""
    pairs = {(region, t) for region, listed in table.get("prices", {}).items() for t in listed}
    if assembly is not None:
        from tools.review import read_assembly

        pairs |= {
            (e.region, v.instance_type)
            for e in read_assembly(assembly).endpoints
            for v in e.variants
            if v.instance_type.startswith("ml.")
        }
    for item in added:
        region, _, instance_type = item.partition(":")
        if not region or not instance_type.startswith("ml."):
            raise ValueError(f"--add {item!r}: expected REGION:INSTANCE_TYPE, e.g. eu-west-1:ml.g5.xlarge")
        pairs.add((region, instance_type))
    return pairs


def refresh(
    table: dict[str, Any], pairs: set[tuple[str, str]], listed: Iterable[ListedPrice], today: str
) -> list[tuple[str, str]]:
    """Write the listed prices of ``pairs`` into ``table``; return the pairs not listed (kept as they were).

    Raises ValueError when the Price List lists two different hosting prices for one region and instance type:
    which one applies cannot be told, and keeping either would be a guess.
    """
    found: dict[tuple[str, str], ListedPrice] = {}
    for each in listed:
        key = (each.region, each.instance_type)
        if key in found and found[key].usd_per_hour != each.usd_per_hour:
            raise ValueError(
                f"the Price List lists {each.instance_type} in {each.region} twice: {found[key].usd_per_hour} "
                f"(SKU {found[key].sku}) and {each.usd_per_hour} (SKU {each.sku})"
            )
        found[key] = each
    missing: list[tuple[str, str]] = []
    prices = table.setdefault("prices", {})
    for region, instance_type in sorted(pairs):
        price = found.get((region, instance_type))
        if price is None:
            missing.append((region, instance_type))
            continue
        prices.setdefault(region, {})[instance_type] = price.entry()
    table["prices"] = {region: dict(sorted(listed.items())) for region, listed in sorted(prices.items()) if listed}
    if len(missing) < len(pairs):
        table["date"] = today
    return missing


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Refresh the review's price table from the AWS Price List.")
    parser.add_argument("--output", type=Path, default=PRICES, help="the price table to update")
    parser.add_argument("--assembly", type=Path, help="a cdk.out whose endpoints' regions and types to price too")
    parser.add_argument("--add", action="append", default=[], metavar="REGION:INSTANCE_TYPE")
    parser.add_argument("--offer", type=Path, action="append", help="an offer file on disk instead of downloading")
    parser.add_argument("--endpoint", default=ENDPOINT, help="the Price List Bulk API's host (tests: a file:// URL)")
    arguments = parser.parse_args(argv)
    try:
        table: dict[str, Any] = (
            json.loads(arguments.output.read_text()) if arguments.output.is_file() else {"hours_per_month": 730}
        )
        pairs = wanted(table, arguments.assembly, arguments.add)
        if arguments.offer:
            offers = [json.loads(path.read_text()) for path in arguments.offer]
        else:
            index = _download(arguments.endpoint.rstrip("/") + REGION_INDEX)
            urls = region_urls(index, arguments.endpoint, (region for region, _ in pairs))
            offers = [_download(url) for url in urls.values()]
        listed = [price for offer in offers for price in read_offer(offer)]
        missing = refresh(table, pairs, listed, datetime.date.today().isoformat())
    except (OSError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    table["source"] = (
        "Each price names its source: the AWS Price List (written by python -m tools.refresh_prices) or, marked "
        "estimate, a figure not read from it."
    )
    arguments.output.write_text(json.dumps(table, indent=2) + "\n")
    print(f"{len(pairs) - len(missing)} of {len(pairs)} prices read from the Price List into {arguments.output}")
    for region, instance_type in missing:
        kept = "kept as it was" if instance_type in table["prices"].get(region, {}) else "still unpriced"
        print(f"not in the Price List: {instance_type} in {region} ({kept})", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
