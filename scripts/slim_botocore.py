"""Keep botocore's data for the services the image calls, and no other: `python slim_botocore.py PACKAGES SERVICE...`.

Creating a client, botocore lists every service it ships (about 450 directories, twice: once per kind of file
it looks for) and parses `endpoints.json` (1.2 MB: every endpoint of every service in every partition). That is
about 35 ms of CPU of every cold start on the benchmark's machine, over half of what creating the DynamoDB
client costs, and several times that at 256 MB (`docs/benchmarks.md`). The image's handlers call four services;
the Dockerfile runs this in the same layer as `pip install`, so the 19 MB it removes never reach the image.

What stays is botocore's data as shipped for those services: their directories, the files of every service
(`_retry.json`, `partitions.json`, `sdk-default-configuration.json`) and `endpoints.json` with the entries of
those services in every partition (the defaults, regions and suffixes of each partition are kept whole). A
client of any other service then fails to be created (`UnknownServiceError`), never quietly differs.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path

# What the image's handlers create clients for (order_creator/clients.py).
IMAGE_SERVICES = ("dynamodb", "sqs", "events", "dynamodbstreams")


def slim(packages: Path, services: tuple[str, ...] | list[str]) -> tuple[int, int]:
    """Remove every other service's data from the botocore under `packages`; (directories removed, bytes freed)."""
    data = packages / "botocore" / "data"
    missing = [name for name in services if not (data / name).is_dir()]
    if not data.is_dir() or missing:
        raise SystemExit(f"slim_botocore: no botocore data for {missing or list(services)} under {packages}")
    prefixes = {_endpoint_prefix(data / name) for name in services}
    removed = freed = 0
    for entry in sorted(data.iterdir()):
        if entry.is_dir() and entry.name not in services:
            freed += sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
            shutil.rmtree(entry)
            removed += 1
    endpoints = data / "endpoints.json"
    before = endpoints.stat().st_size
    document = json.loads(endpoints.read_text())
    for partition in document["partitions"]:
        partition["services"] = {key: value for key, value in partition["services"].items() if key in prefixes}
    endpoints.write_text(json.dumps(document, separators=(",", ":"), sort_keys=True))
    return removed, freed + before - endpoints.stat().st_size


def _endpoint_prefix(service: Path) -> str:
    """The service's key in endpoints.json: its newest model's `endpointPrefix` (dynamodbstreams: streams.dynamodb)."""
    newest = max(version for version in service.iterdir() if version.is_dir())
    model = newest / "service-2.json"
    text = model.read_text() if model.exists() else gzip.decompress((newest / "service-2.json.gz").read_bytes())
    return str(json.loads(text)["metadata"]["endpointPrefix"])


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    chosen = sys.argv[2:] or list(IMAGE_SERVICES)
    count, size = slim(Path(sys.argv[1]), chosen)
    print(f"slim_botocore: kept {', '.join(chosen)}; removed {count} services' data, {size / 1e6:.1f} MB")
