#!/usr/bin/env bash
# The deployment checks that need no AWS account and no Docker engine (`make check-deploy`, part of `make test`):
#   1. hadolint on the Dockerfile;
#   2. the image's CMD is the contract's handler, and it imports from the tree the Dockerfile's COPY lines build;
#   3. every runtime dependency, with its own dependencies, has an arm64 (or pure-Python) wheel for the image's Python;
#   4. the SAM template transforms offline (aws-sam-translator);
#   5. cfn-lint with the serverless rules, and checkov, on the template: zero findings (suppressions carry reasons).
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="${TOOLS:-.venv-tools}"
VENV="${VENV:-.venv}"
for tool in "$TOOLS/bin/hadolint" "$TOOLS/bin/cfn-lint" "$TOOLS/bin/checkov" "$VENV/bin/python"; do
    [[ -x "$tool" ]] || { echo "check-deploy: $tool is missing; run 'make tools venv'" >&2; exit 2; }
done
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

echo "check-deploy: hadolint Dockerfile"
"$TOOLS/bin/hadolint" Dockerfile

echo "check-deploy: image CMD and handler import"
python_version="$("$VENV/bin/python" scripts/check_image.py Dockerfile)"

echo "check-deploy: arm64 wheels for Python $python_version (requirements.txt and everything it pulls in)"
# Lambda's Python 3.12+ images run Amazon Linux 2023 (glibc 2.34): manylinux2014 and manylinux_2_28 wheels fit.
if ! "$TOOLS/bin/python" -m pip download --disable-pip-version-check --quiet --no-cache-dir \
        --only-binary=:all: --implementation cp --python-version "$python_version" \
        --abi "cp${python_version/./}" --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 \
        -r requirements.txt -d "$scratch/wheels" >"$scratch/pip.log" 2>&1; then
    grep -v "is ignored: it is neither a file nor a directory" "$scratch/pip.log" >&2
    echo "check-deploy: a runtime dependency has no wheel for linux/arm64, Python $python_version" >&2
    exit 1
fi
ls "$scratch/wheels" | sed 's/^/    /'

echo "check-deploy: SAM transform"
"$TOOLS/bin/python" scripts/sam_transform.py template.yaml >"$scratch/template.json"

echo "check-deploy: cfn-lint (with the serverless rules)"
"$TOOLS/bin/cfn-lint" --append-rules cfn_lint_serverless.rules -- template.yaml

echo "check-deploy: checkov"
# --skip-download: offline; no guideline links from the vendor's API.
"$TOOLS/bin/checkov" --skip-download --quiet --compact --framework cloudformation --file template.yaml

echo "check-deploy: all passed"
