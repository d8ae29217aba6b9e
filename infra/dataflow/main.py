# Beam's public API is largely unannotated; calls into it are not type errors.
# mypy: untyped-calls-exclude=apache_beam
"""The Flex Template's entry point (FLEX_TEMPLATE_PYTHON_PY_FILE): submit the streaming job.

The launcher VM runs this file with the template's parameters as `--name=value`
flags, plus Dataflow's own (project, region, temp_location, ...). It adds the
flags that make the job the production one, builds the same pipeline as
`python -m pipeline`, submits it and exits: a Flex Template must not wait for
the job (so not `pipeline.launcher.stream`, which does).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipeline.events_pipeline import EventsJob, build_events_pipeline

# Not template parameters: what makes this the Dataflow job. Tables, views and
# their schemas belong to Terraform (infra/terraform/), so the job never creates them.
PRODUCTION_FLAGS = (
    "--mode=streaming",
    "--read_method=beam_kafka_io",
    "--write_method=STORAGE_WRITE_API",
    "--no_create_tables",
)


def production_options(argv: Sequence[str]) -> PipelineOptions:
    """The launcher's flags with the production ones last, so they win."""
    options = PipelineOptions([*argv, *PRODUCTION_FLAGS])
    options.view_as(StandardOptions).streaming = True
    return options


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO)
    options = production_options(list(argv) if argv is not None else sys.argv[1:])
    job = EventsJob.from_options(options)
    pipeline = beam.Pipeline(options=options)
    # ReadFromKafka finds the partitions itself: no offset ranges are planned here.
    build_events_pipeline(pipeline, job, ranges=[])
    result = pipeline.run()
    logging.info("submitted the streaming job (state %s)", result.state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
