# Beam's bundled apitools client is unannotated.
# mypy: untyped-calls-exclude=apache_beam
"""BigQuery clients bound to an emulator endpoint (`--bigquery_endpoint`).

Beam's `WriteToBigQuery` has no endpoint option. Its `test_client` argument
takes one object that Beam uses both as the apitools `BigqueryV2` client
(`.tables`, `.datasets`, `.jobs`, `.tabledata`) and as the google-cloud
client (`.insert_rows_json`), and that object is pickled with the DoFn. So
`EmulatorBigQueryClient` keeps only the endpoint and the project in its
pickled state and builds both clients lazily, in whichever worker uses it.
Without `--bigquery_endpoint` none of this is used.
"""

from __future__ import annotations

import threading
from typing import Any

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery


def cloud_client(project: str, endpoint: str | None) -> bigquery.Client:
    """The google-cloud client: the emulator when an endpoint is given, else real BigQuery."""
    if endpoint is None:
        return bigquery.Client(project=project)
    return bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=endpoint),
    )


def apitools_client(endpoint: str) -> Any:
    """Beam's bundled apitools client, pointed at the emulator, without credentials."""
    from apache_beam.io.gcp.internal.clients import bigquery as beam_bigquery

    return beam_bigquery.BigqueryV2(
        url=endpoint.rstrip("/") + "/bigquery/v2/",
        get_credentials=False,
        credentials=None,
        response_encoding="utf8",
    )


class EmulatorBigQueryClient:
    """Both clients Beam's BigQuery sink calls, built lazily from endpoint + project."""

    def __init__(self, endpoint: str, project: str) -> None:
        self.endpoint = endpoint
        self.project = project
        self._lock = threading.Lock()
        self._cloud: bigquery.Client | None = None
        self._apitools: Any = None

    def __getstate__(self) -> dict[str, str]:
        return {"endpoint": self.endpoint, "project": self.project}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.__init__(state["endpoint"], state["project"])  # type: ignore[misc]

    # The google-cloud side: the streaming insert.
    @property
    def cloud(self) -> bigquery.Client:
        with self._lock:
            if self._cloud is None:
                self._cloud = cloud_client(self.project, self.endpoint)
            return self._cloud

    def insert_rows_json(self, *args: Any, **kwargs: Any) -> Any:
        return self.cloud.insert_rows_json(*args, **kwargs)

    # The apitools side: table and dataset lookups, creation, jobs.
    @property
    def apitools(self) -> Any:
        with self._lock:
            if self._apitools is None:
                self._apitools = apitools_client(self.endpoint)
            return self._apitools

    @property
    def tables(self) -> Any:
        return self.apitools.tables

    @property
    def datasets(self) -> Any:
        return self.apitools.datasets

    @property
    def jobs(self) -> Any:
        return self.apitools.jobs

    @property
    def tabledata(self) -> Any:
        return self.apitools.tabledata
