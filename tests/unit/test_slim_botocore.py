"""scripts/slim_botocore.py: the image's botocore keeps what its four services need, and they resolve as before."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import botocore
import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("slim_botocore", ROOT / "scripts/slim_botocore.py")
assert _spec is not None and _spec.loader is not None
slim_botocore = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(slim_botocore)

REGIONS = ("us-east-1", "eu-central-1", "ap-southeast-2", "cn-north-1", "us-gov-west-1", "us-iso-east-1")

# In a fresh interpreter with PACKAGES first on sys.path: what botocore makes of each service in each region.
_RESOLVE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import botocore, botocore.session
from botocore.config import Config
services, regions = sys.argv[2].split(","), sys.argv[3].split(",")
found = {"botocore": botocore.__file__}
for service in services:
    for region in regions:
        for fips in (False, True):
            config = Config(use_fips_endpoint=True) if fips else None
            try:
                client = botocore.session.Session().create_client(service, region_name=region, config=config)
                meta = client.meta
                found[f"{service} {region} fips={fips}"] = [
                    meta.endpoint_url, meta.region_name, meta.service_model.signing_name, meta.config.signature_version
                ]
            except Exception as error:
                found[f"{service} {region} fips={fips}"] = type(error).__name__
print(json.dumps(found))
"""


def _resolve(packages: Path | None, services: tuple[str, ...]) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_CONFIG_FILE=os.devnull)
    argv = [str(packages or ""), ",".join(services), ",".join(REGIONS)]
    run = subprocess.run([sys.executable, "-c", _RESOLVE, *argv], env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(run.stdout))


@pytest.fixture(scope="module")
def slimmed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    packages = tmp_path_factory.mktemp("packages")
    shutil.copytree(Path(botocore.__file__).parent, packages / "botocore")
    slim_botocore.slim(packages, slim_botocore.IMAGE_SERVICES)
    return packages


def test_the_image_services_resolve_exactly_as_with_all_of_botocores_data(slimmed):
    # Given botocore slimmed to the image's services, and the same botocore whole
    # When a client of each is created in every partition's regions, with and without FIPS
    slim = _resolve(slimmed, slim_botocore.IMAGE_SERVICES)
    whole = _resolve(None, slim_botocore.IMAGE_SERVICES)

    # Then the slimmed copy was the one imported, and every endpoint, region, signing name and signature agree
    assert str(slimmed) in str(slim.pop("botocore")) and str(slimmed) not in str(whole.pop("botocore"))
    assert slim == whole
    assert any(isinstance(v, list) for v in slim.values())


def test_a_service_it_dropped_cannot_make_a_client_rather_than_a_different_one(slimmed):
    # Given botocore slimmed to the image's services; When an S3 client is asked for; Then botocore refuses it
    found = _resolve(slimmed, ("s3",))
    assert set(list(found.values())[1:]) == {"UnknownServiceError"}


def test_it_keeps_only_the_services_named_and_the_shared_files(slimmed):
    # Given the slimmed data directory; Then the four services and the files every client reads remain, smaller
    data = slimmed / "botocore" / "data"
    assert sorted(p.name for p in data.iterdir() if p.is_dir()) == sorted(slim_botocore.IMAGE_SERVICES)
    assert {p.name for p in data.iterdir() if p.is_file()} >= {"endpoints.json", "partitions.json", "_retry.json"}
    services = {key for p in json.loads((data / "endpoints.json").read_text())["partitions"] for key in p["services"]}
    assert services <= {"dynamodb", "sqs", "events", "streams.dynamodb"}


def test_a_service_botocore_does_not_ship_stops_the_build(tmp_path):
    # Given a copy of botocore; When asked to keep a service it has no data for; Then it stops, naming it
    shutil.copytree(Path(botocore.__file__).parent / "data" / "sqs", tmp_path / "botocore" / "data" / "sqs")
    with pytest.raises(SystemExit, match="nosuchservice"):
        slim_botocore.slim(tmp_path, ("sqs", "nosuchservice"))
