# Who may do what: the pipeline's workers, the people (or CI) that launch it, BI readers.
#
# On the tables' dataset, access is granted with google_bigquery_dataset_access only:
# dataset IAM resources there would drop the BI dataset's authorization.

resource "google_service_account" "pipeline" {
  account_id   = "tapcart-events-pipeline"
  display_name = "Tapcart events pipeline (Dataflow launcher and workers)"
}

# Runs Dataflow work items, writes its metrics and logs.
resource "google_project_iam_member" "pipeline_project_roles" {
  for_each = toset([
    "roles/dataflow.worker",
    "roles/monitoring.metricWriter",
    "roles/logging.logWriter",
  ])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.pipeline.email}"
}

# Writes rows (Storage Write API) into events and events_dead_letter; no other dataset.
resource "google_bigquery_dataset_access" "pipeline_writes_events" {
  dataset_id    = google_bigquery_dataset.events.dataset_id
  role          = "roles/bigquery.dataEditor"
  user_by_email = google_service_account.pipeline.email
}

# Staging and temp files, the template spec, pulled images.
resource "google_storage_bucket_iam_member" "pipeline_uses_bucket" {
  bucket = google_storage_bucket.dataflow.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.pipeline.email}"
}

resource "google_artifact_registry_repository_iam_member" "pipeline_pulls_images" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${google_service_account.pipeline.email}"
}

resource "google_artifact_registry_repository_iam_member" "gke_nodes_pull_images" {
  count = var.gke_node_service_account == null ? 0 : 1

  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${var.gke_node_service_account}"
}

# Deployers build images and templates and launch jobs that run as the pipeline account.
resource "google_project_iam_member" "deployers_launch_dataflow" {
  #checkov:skip=CKV_GCP_49:launching jobs needs dataflow.developer on the project; deployers may act as the pipeline account only (below)
  for_each = toset(var.pipeline_deployers)

  project = var.project_id
  role    = "roles/dataflow.developer"
  member  = each.value
}

resource "google_service_account_iam_member" "deployers_act_as_pipeline" {
  for_each = toset(var.pipeline_deployers)

  service_account_id = google_service_account.pipeline.name
  role               = "roles/iam.serviceAccountUser"
  member             = each.value
}

resource "google_artifact_registry_repository_iam_member" "deployers_push_images" {
  for_each = toset(var.pipeline_deployers)

  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = each.value
}

resource "google_storage_bucket_iam_member" "deployers_write_templates" {
  for_each = toset(var.pipeline_deployers)

  bucket = google_storage_bucket.dataflow.name
  role   = "roles/storage.objectAdmin"
  member = each.value
}

# BI readers see the views (never the raw tables or the dead letters) and run queries.
resource "google_bigquery_dataset_iam_member" "bi_readers_view_data" {
  for_each = toset(var.bi_readers)

  dataset_id = google_bigquery_dataset.bi.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = each.value
}

resource "google_project_iam_member" "bi_readers_run_queries" {
  for_each = toset(var.bi_readers)

  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = each.value
}
