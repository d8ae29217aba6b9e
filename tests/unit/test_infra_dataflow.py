"""The Flex Template: every parameter is one the pipeline accepts, as Dataflow passes it.

Dataflow hands each template parameter to the entry point as `--name=value`,
beside its own options. Beam parses all of them with one parser built from
every `PipelineOptions` subclass and silently drops what it does not know, so
the test asks that very parser (captured through `get_all_options`) to accept
each parameter and fails on anything left over.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import apache_beam
import pytest
from apache_beam.io import kafka
from apache_beam.io.gcp import bigquery
from apache_beam.options.pipeline_options import PipelineOptions

import pipeline.options  # registers the pipeline's options with Beam's parser
from infra.dataflow import expansion_jars
from infra.dataflow.main import PRODUCTION_FLAGS, production_options
from infra.tools.installed import REPO_ROOT, run, tool
from pipeline.events_pipeline import EventsJob

DATAFLOW = REPO_ROOT / "infra" / "dataflow"
METADATA = DATAFLOW / "metadata.json"
LAUNCH = DATAFLOW / "launch.sh"
# Values for the parameters without a default, as an operator would pass them.
REQUIRED_EXAMPLES = {"bootstrap_servers": "kafka-0.kafka:9092,kafka-1.kafka:9092"}


def metadata() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(METADATA.read_text(encoding="utf-8"))
    return loaded


def parameters() -> list[dict[str, Any]]:
    return list(metadata()["parameters"])


def beam_parser() -> argparse.ArgumentParser:
    """The parser Beam builds from every registered PipelineOptions subclass."""
    assert pipeline.options.EventsPipelineOptions in PipelineOptions.__subclasses__()
    captured: list[argparse.ArgumentParser] = []
    PipelineOptions([]).get_all_options(add_extra_args_fn=captured.append)
    return captured[0]


def example(parameter: dict[str, Any]) -> str:
    value = parameter.get("defaultValue", REQUIRED_EXAMPLES.get(parameter["name"]))
    assert value is not None, f"no example value for {parameter['name']}"
    return str(value)


@pytest.fixture(autouse=True)
def _local_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    # The pipeline's defaults read these; the template's defaults are the unset ones.
    for name in ("BIGQUERY_DATASET", "BIGQUERY_PROJECT", "KAFKA_BOOTSTRAP_SERVERS"):
        monkeypatch.delenv(name, raising=False)


def test_metadata_describes_every_parameter() -> None:
    document = metadata()
    assert document["name"] and document["description"]
    assert document["streaming"] is True
    names = [parameter["name"] for parameter in parameters()]
    assert len(names) == len(set(names))
    for parameter in parameters():
        assert parameter["label"].strip() and len(parameter["helpText"]) > 20, parameter["name"]
        assert isinstance(parameter["isOptional"], bool)
        assert parameter["isOptional"] == ("defaultValue" in parameter), parameter["name"]
        for regex in parameter.get("regexes", []):
            assert re.fullmatch(regex, example(parameter)), (parameter["name"], regex)


@pytest.mark.parametrize("parameter", parameters(), ids=lambda parameter: parameter["name"])
def test_pipeline_accepts_each_parameter(parameter: dict[str, Any]) -> None:
    flag = f"--{parameter['name']}={example(parameter)}"
    parser = beam_parser()
    _, unknown = parser.parse_known_args([flag])
    assert unknown == [], f"the pipeline does not accept {flag}"
    values = PipelineOptions([flag]).get_all_options()
    assert str(values[parameter["name"]]) == example(parameter)


@pytest.mark.parametrize(
    "parameter",
    [parameter for parameter in parameters() if "defaultValue" in parameter],
    ids=lambda parameter: parameter["name"],
)
def test_template_defaults_are_the_pipeline_defaults(parameter: dict[str, Any]) -> None:
    default = beam_parser().get_default(parameter["name"])
    assert str(default) == parameter["defaultValue"]


def test_an_unknown_parameter_fails_the_check() -> None:
    _, unknown = beam_parser().parse_known_args(["--bootstrap_server=kafka:9092"])
    assert unknown == ["--bootstrap_server=kafka:9092"]


def test_entry_point_makes_the_production_job() -> None:
    flags = [f"--{parameter['name']}={example(parameter)}" for parameter in parameters()]
    # A parameter cannot undo the production settings: those flags come last.
    options = production_options([*flags, "--read_method=splittable", "--project=example"])
    job = EventsJob.from_options(options)
    assert job.read_method == "beam_kafka_io"
    assert job.write_method == "STORAGE_WRITE_API"
    assert job.bounded is False
    assert job.bootstrap_servers == REQUIRED_EXAMPLES["bootstrap_servers"]
    assert job.destination.project == "example"
    assert options.get_all_options()["create_tables"] is False
    assert options.get_all_options()["streaming"] is True
    for flag in PRODUCTION_FLAGS:
        assert beam_parser().parse_known_args([flag])[1] == []


def _launch_commands(action: str, tmp_path: Path) -> list[list[str]]:
    env = {
        **os.environ,
        "DRY_RUN": "1",
        "PROJECT": "example",
        "REGION": "us-central1",
        "BUCKET": "example-tapcart-dataflow",
        "IMAGE_REPOSITORY": "us-central1-docker.pkg.dev/example/tapcart",
        "TAG": "abc123",
        "SERVICE_ACCOUNT": "tapcart-events-pipeline@example.iam.gserviceaccount.com",
        "KAFKA_BOOTSTRAP_SERVERS": REQUIRED_EXAMPLES["bootstrap_servers"],
    }
    result = run(Path("bash"), [LAUNCH, action], env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return [shlex.split(line) for line in result.stdout.splitlines()]


def test_launch_passes_only_template_parameters(tmp_path: Path) -> None:
    (command,) = _launch_commands("run", tmp_path)
    assert command[:4] == ["gcloud", "dataflow", "flex-template", "run"]
    value = command[command.index("--parameters") + 1]
    assert value.startswith("^~^")
    passed = dict(item.split("=", 1) for item in value.removeprefix("^~^").split("~"))
    declared = {parameter["name"] for parameter in parameters()}
    # sdk_container_image is Dataflow's own: the workers run the template's image.
    assert set(passed) - declared == {"sdk_container_image"}
    required = {p["name"] for p in parameters() if not p["isOptional"]}
    assert required <= set(passed)
    image = passed["sdk_container_image"]
    assert image == "us-central1-docker.pkg.dev/example/tapcart/tapcart-events-pipeline:abc123"
    assert "--enable-streaming-engine" in command


def test_update_keeps_the_job_name(tmp_path: Path) -> None:
    (run_command,) = _launch_commands("run", tmp_path)
    (update,) = _launch_commands("update", tmp_path)
    assert update[4] == run_command[4] == "tapcart-events"
    assert "--update" in update


def test_template_build_uses_this_metadata(tmp_path: Path) -> None:
    (command,) = _launch_commands("template", tmp_path)
    assert command[:4] == ["gcloud", "dataflow", "flex-template", "build"]
    assert command[command.index("--metadata-file") + 1] == "infra/dataflow/metadata.json"
    assert command[command.index("--sdk-language") + 1] == "PYTHON"


@pytest.mark.parametrize("script", [LAUNCH, REPO_ROOT / "infra/tools/install.sh"])
def test_shellcheck_finds_nothing(script: Path) -> None:
    result = run(tool("shellcheck"), [script])
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_caches_the_jars_beam_would_download() -> None:
    urls = expansion_jars.jar_urls()
    assert kafka.default_io_expansion_service().path_to_jar in urls
    assert expansion_jars.GCP_IO_TARGET in Path(bigquery.__file__).read_text(encoding="utf-8")
    for url in urls:
        assert url.startswith("https://repo.maven.apache.org/maven2/org/apache/beam/")
        assert f"-{apache_beam.__version__}.jar" in url
