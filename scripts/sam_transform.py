"""Print template.yaml as plain CloudFormation JSON, transformed offline by AWS SAM's own translator.

Runs in the tools environment (`.venv-tools/bin/python scripts/sam_transform.py [template.yaml]`), where
aws-sam-translator lives. Parameters take their defaults. As `sam build` would, the image function gets
an `ImageUri` (the translator requires one; `sam build` writes the built image's tag there).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from boto3.session import Session
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse  # reads the short tags (!Ref, !Sub, ...) as CloudFormation does

PSEUDO_PARAMETERS = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "order-creator-dev",
}


def transform(text: str) -> dict[str, Any]:
    """The SAM template as CloudFormation, with the default parameter values and a placeholder image."""
    template: dict[str, Any] = yaml_parse(text)
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function" and properties.get("PackageType") == "Image":
            tag = resource.get("Metadata", {}).get("DockerTag", "latest")
            properties.setdefault("ImageUri", f"{name.lower()}:{tag}")
    # No credentials and no network: the session only tells the translator the region.
    translator = Translator(None, Parser(), boto_session=Session(region_name=PSEUDO_PARAMETERS["AWS::Region"]))
    return translator.translate(template, parameter_values=dict(PSEUDO_PARAMETERS))


def main() -> None:
    """Transform the template named on the command line (default template.yaml) and print it as JSON."""
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
    json.dump(transform(path.read_text()), sys.stdout, indent=1, sort_keys=True, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
