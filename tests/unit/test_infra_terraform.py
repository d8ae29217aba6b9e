"""The BigQuery Terraform: formatted, valid for the Google provider, and derived from schemas/.

`terraform validate` needs the provider binary, which no reachable registry
serves. Instead:
- `terraform fmt -check` runs the real binary;
- every resource is checked against the provider's schema (6.50, shipped on npm
  as @cdktf/provider-google) by infra/tools/terraform_schema.py;
- the table and view definitions are evaluated by the real terraform binary:
  their expressions are copied into a module without resources (no provider
  needed) whose outputs are compared with what schemas/ and pipeline/views.py give.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import hcl2
import pytest

from infra import terraform_inputs
from infra.tools.installed import REPO_ROOT, provider_schema, run, terraform, terraform_env
from infra.tools.terraform_schema import check_module, load_provider_schema
from pipeline.views import deduplicated_view_sql, event_type_views
from schemas.bigquery import table_schema
from schemas.catalog import EVENT_TYPES, TABLES

TERRAFORM_DIR = REPO_ROOT / "infra" / "terraform"
TABLE_RESOURCES = ("events", "events_dead_letter")


def parsed() -> dict[str, dict[str, Any]]:
    """Every .tf file of the module, parsed (quotes kept, so values are HCL expressions)."""
    documents = {}
    for path in sorted(TERRAFORM_DIR.glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            documents[path.name] = hcl2.load(handle)
    return documents


def resources(type_name: str) -> dict[str, dict[str, Any]]:
    found = {}
    for document in parsed().values():
        for block in document.get("resource", []):
            for key, named in block.items():
                if key.strip('"') == type_name:
                    found.update({name.strip('"'): body for name, body in named.items()})
    return found


def locals_block() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for document in parsed().values():
        for block in document.get("locals", []):
            merged.update({k: v for k, v in block.items() if not k.startswith("__")})
    return merged


def hcl(value: Any) -> str:
    """A value as python-hcl2 serialises it, back as HCL expression text."""
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    text = str(value)
    if text.startswith("${") and _interpolation_end(text) == len(text) - 1:
        return text[2:-1]
    if text.startswith('"'):
        return text
    raise AssertionError(f"not an HCL expression: {text!r}")


def _interpolation_end(text: str) -> int:
    depth, quoted, index = 0, False, 1
    while index < len(text):
        char = text[index]
        if quoted:
            if char == "\\":
                index += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return -1


# A module with no resources evaluates without any provider, offline.
RESOURCE_FREE = {
    "google_bigquery_dataset.events.dataset_id": "var.dataset_id",
    "google_bigquery_dataset.bi.dataset_id": "var.bi_dataset_id",
}


def evaluation_module(directory: Path) -> Path:
    """A copy of the module's variables and locals with outputs for the tables and views."""
    module = directory / "infra" / "terraform"
    module.mkdir(parents=True)
    # path.module-relative reads must find the real files.
    (directory / "schemas").symlink_to(REPO_ROOT / "schemas")
    (module / "views.json").symlink_to(TERRAFORM_DIR / "views.json")
    shutil.copy(TERRAFORM_DIR / "variables.tf", module / "variables.tf")
    lines = ["locals {"]
    for name, value in locals_block().items():
        expression = hcl(value)
        for reference, replacement in RESOURCE_FREE.items():
            expression = expression.replace(reference, replacement)
        lines.append(f"  {name} = {expression}")
    lines.append("}")
    tables = resources("google_bigquery_table")
    for name in TABLE_RESOURCES:
        body = tables[name]
        (partitioning,) = body["time_partitioning"]
        lines += [
            f'output "{name}" {{',
            "  value = {",
            f"    table_id = {hcl(body['table_id'])}",
            f"    schema = jsondecode({hcl(body['schema'])})",
            f"    clustering = {hcl(body['clustering'])}",
            f"    partition_type = {hcl(partitioning['type'])}",
            f"    partition_field = {hcl(partitioning['field'])}",
            f"    expiration_ms = {hcl(partitioning['expiration_ms'])}",
            "  }",
            "}",
        ]
    dedup = tables["events_deduplicated"]
    (dedup_view,) = dedup["view"]
    per_type = tables["event_type_views"]
    (type_view,) = per_type["view"]
    each = hcl(type_view["query"]).replace("each.key", "name")
    lines += [
        'output "views" {',
        "  value = merge(",
        f"    {{ ({hcl(dedup['table_id'])}) = {hcl(dedup_view['query'])} }},",
        f"    {{ for name, view in {hcl(per_type['for_each'])} : name => {each} }},",
        "  )",
        "}",
    ]
    (module / "evaluate.tf").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return module


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The outputs of the evaluation module, as `terraform output -json` gives them."""
    directory = tmp_path_factory.mktemp("terraform-eval")
    module = evaluation_module(directory)
    env = terraform_env(directory)
    variables = ["-var", "project_id=example-project", "-var", "receiver_domain=example.com"]
    for command in (
        ["init", "-backend=false", "-input=false"],
        ["apply", "-auto-approve", "-input=false", *variables],
        ["output", "-json"],
    ):
        result = run(terraform(), command, cwd=module, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
    return {name: item["value"] for name, item in json.loads(result.stdout).items()}


def test_terraform_fmt_is_clean(tmp_path: Path) -> None:
    result = run(
        terraform(),
        ["fmt", "-check", "-diff", "-recursive", TERRAFORM_DIR],
        env=terraform_env(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_resource_matches_the_google_provider_schema() -> None:
    schema = load_provider_schema(provider_schema())
    assert schema.version.startswith("6.50")
    assert check_module(TERRAFORM_DIR, schema) == []


def test_schema_check_catches_a_wrong_argument(tmp_path: Path) -> None:
    broken = tmp_path / "module"
    shutil.copytree(TERRAFORM_DIR, broken)
    tf = broken / "bigquery.tf"
    text = tf.read_text(encoding="utf-8")
    tf.write_text(text.replace("expiration_ms =", "expiration_days =", 1), encoding="utf-8")
    problems = check_module(broken, load_provider_schema(provider_schema()))
    assert any("unknown argument or block 'expiration_days'" in problem for problem in problems)


@pytest.mark.parametrize("table", TABLE_RESOURCES)
def test_table_schema_is_read_from_the_generated_file(table: str) -> None:
    body = resources("google_bigquery_table")[table]
    assert hcl(body["schema"]) == f'file("${{local.schemas_dir}}/{table}.json")'
    assert hcl(locals_block()["schemas_dir"]) == '"${path.module}/../../schemas/generated"'
    assert (TERRAFORM_DIR / "../../schemas/generated" / f"{table}.json").resolve().is_file()


@pytest.mark.parametrize("table", TABLE_RESOURCES)
def test_evaluated_table_equals_the_catalog(evaluated: dict[str, Any], table: str) -> None:
    definition = TABLES[table]
    output = evaluated[table]
    assert output["table_id"] == table
    assert output["schema"] == table_schema(definition)
    assert output["partition_type"] == "DAY"
    assert output["partition_field"] == definition.partition_field
    assert output["clustering"] == list(definition.clustering)
    assert int(output["expiration_ms"]) >= 7 * 24 * 60 * 60 * 1000


def test_evaluated_views_are_the_pipeline_views(evaluated: dict[str, Any]) -> None:
    views = evaluated["views"]
    assert views["events_deduplicated"] == deduplicated_view_sql(
        "example-project", "tapcart", "events"
    )
    expected = event_type_views("example-project", "tapcart_bi")
    assert {name: sql for name, sql in views.items() if name != "events_deduplicated"} == expected
    assert len(expected) == len(EVENT_TYPES)


def test_deduplicated_view_keeps_one_row_per_event_id() -> None:
    query = json.loads((TERRAFORM_DIR / "views.json").read_text())["deduplicated"]["query"]
    assert re.search(r"ROW_NUMBER\(\) OVER \(\s*PARTITION BY event_id\s+ORDER BY", query)
    assert query.rstrip().endswith("= 1")


def test_views_file_is_up_to_date() -> None:
    assert terraform_inputs.stale_files() == [], "run `python -m infra.terraform_inputs`"


def test_tables_cannot_be_destroyed_by_accident() -> None:
    tables = resources("google_bigquery_table")
    for name in TABLE_RESOURCES:
        assert tables[name]["deletion_protection"] is True
    for dataset in resources("google_bigquery_dataset").values():
        assert dataset["delete_contents_on_destroy"] is False


def test_pipeline_writes_the_tables_and_bi_reads_only_the_views() -> None:
    access = resources("google_bigquery_dataset_access")
    writer = access["pipeline_writes_events"]
    assert hcl(writer["role"]) == '"roles/bigquery.dataEditor"'
    assert hcl(writer["user_by_email"]) == "google_service_account.pipeline.email"
    (authorized,) = access["bi_views_read_events"]["dataset"]
    assert authorized["target_types"] == ['"VIEWS"']
    readers = resources("google_bigquery_dataset_iam_member")["bi_readers_view_data"]
    assert hcl(readers["dataset_id"]) == "google_bigquery_dataset.bi.dataset_id"
    assert hcl(readers["role"]) == '"roles/bigquery.dataViewer"'
    # Dataset IAM members on the tables' dataset would drop the BI views' authorization.
    for member in resources("google_bigquery_dataset_iam_member").values():
        assert "google_bigquery_dataset.events" not in member["dataset_id"]
