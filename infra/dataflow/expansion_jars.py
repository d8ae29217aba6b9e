# Beam's public API is largely unannotated; calls into it are not type errors.
# mypy: untyped-calls-exclude=apache_beam
"""The Java expansion services the Dataflow job needs, fetched into the image at build time.

`ReadFromKafka` and the Storage Write API are Java transforms that Beam expands
by starting a jar on the launcher. Beam downloads the jar from Maven Central on
first use; fetching it while the image is built makes a launch independent of
that download. `python expansion_jars.py` (run by the Dockerfile) fills Beam's
jar cache; imports only Beam, since the image runs it before the project is on
the path.
"""

from __future__ import annotations

import sys

from apache_beam.utils.subprocess_server import JavaJarServer

# Beam's Gradle targets of the two services, as its Python wrappers name them
# (apache_beam.io.kafka.default_io_expansion_service; StorageWriteToBigQuery).
KAFKA_IO_TARGET = "sdks:java:io:expansion-service:shadowJar"
GCP_IO_TARGET = "sdks:java:io:google-cloud-platform:expansion-service:build"
TARGETS = (KAFKA_IO_TARGET, GCP_IO_TARGET)


def jar_urls() -> list[str]:
    """Where Beam looks for each jar, for the installed Beam version."""
    return [str(JavaJarServer.path_to_beam_jar(target)) for target in TARGETS]


def main() -> int:
    for url in jar_urls():
        print(f"cached {JavaJarServer.local_jar(url)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
