# The BigQuery side: the tables the pipeline writes and the views BI reads.
#
# Table schemas, partitioning and clustering are read from the files that
# `make schemas` derives from schemas/catalog.py; the view SQL from views.json,
# derived from pipeline/views.py (`python -m infra.terraform_inputs`). Nothing
# about a column is written down here.

locals {
  schemas_dir   = "${path.module}/../../schemas/generated"
  table_options = jsondecode(file("${local.schemas_dir}/tables.json"))
  views         = jsondecode(file("${path.module}/views.json"))
  day_ms        = 24 * 60 * 60 * 1000

  # views.json names the project and datasets with placeholders.
  view_queries = merge(
    {
      (local.views.deduplicated.name) = local.views.deduplicated.query
    },
    { for name, view in local.views.event_types : name => view.query },
  )
  rendered_view_queries = {
    for name, query in local.view_queries : name => replace(replace(replace(query,
      "@@project@@", var.project_id),
      "@@events_dataset@@", google_bigquery_dataset.events.dataset_id),
    "@@views_dataset@@", google_bigquery_dataset.bi.dataset_id)
  }
}

resource "google_bigquery_dataset" "events" {
  dataset_id                 = var.dataset_id
  friendly_name              = "Tapcart events"
  description                = "Tables written by the Tapcart events pipeline (events, events_dead_letter). BI reads the views in ${var.bi_dataset_id}."
  location                   = var.bigquery_location
  delete_contents_on_destroy = false
  labels                     = var.labels

  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }
}

resource "google_bigquery_dataset" "bi" {
  dataset_id                 = var.bi_dataset_id
  friendly_name              = "Tapcart events for BI"
  description                = "Deduplicated Tapcart events, one view per event type. Generated from pipeline/views.py."
  location                   = var.bigquery_location
  delete_contents_on_destroy = false
  labels                     = var.labels

  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }
}

resource "google_bigquery_table" "events" {
  dataset_id  = google_bigquery_dataset.events.dataset_id
  table_id    = "events"
  description = local.table_options.events.description
  schema      = file("${local.schemas_dir}/events.json")
  clustering  = local.table_options.events.clustering
  labels      = var.labels

  time_partitioning {
    type          = local.table_options.events.time_partitioning.type
    field         = local.table_options.events.time_partitioning.field
    expiration_ms = var.events_partition_expiration_days * local.day_ms
  }

  require_partition_filter = var.require_partition_filter
  deletion_protection      = true

  dynamic "encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = encryption_configuration.value
    }
  }
}

resource "google_bigquery_table" "events_dead_letter" {
  dataset_id  = google_bigquery_dataset.events.dataset_id
  table_id    = "events_dead_letter"
  description = local.table_options.events_dead_letter.description
  schema      = file("${local.schemas_dir}/events_dead_letter.json")
  clustering  = local.table_options.events_dead_letter.clustering
  labels      = var.labels

  time_partitioning {
    type          = local.table_options.events_dead_letter.time_partitioning.type
    field         = local.table_options.events_dead_letter.time_partitioning.field
    expiration_ms = var.dead_letter_partition_expiration_days * local.day_ms
  }

  deletion_protection = true

  dynamic "encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = encryption_configuration.value
    }
  }
}

resource "google_bigquery_table" "events_deduplicated" {
  #checkov:skip=CKV_GCP_80:a view stores no data; the tables it reads are encrypted
  dataset_id          = google_bigquery_dataset.bi.dataset_id
  table_id            = local.views.deduplicated.name
  description         = local.views.deduplicated.description
  labels              = var.labels
  deletion_protection = true

  view {
    query          = local.rendered_view_queries[local.views.deduplicated.name]
    use_legacy_sql = false
  }

  depends_on = [google_bigquery_table.events]
}

resource "google_bigquery_table" "event_type_views" {
  #checkov:skip=CKV_GCP_80:a view stores no data; the tables it reads are encrypted
  for_each = local.views.event_types

  dataset_id  = google_bigquery_dataset.bi.dataset_id
  table_id    = each.key
  description = each.value.description
  labels      = var.labels
  # Dashboards query these by name: dropping one (an event type leaving the catalog)
  # takes a deliberate change of this flag first.
  deletion_protection = true

  view {
    query          = local.rendered_view_queries[each.key]
    use_legacy_sql = false
  }

  depends_on = [google_bigquery_table.events_deduplicated]
}

# The BI dataset's views may read the tables' dataset although their readers may not.
resource "google_bigquery_dataset_access" "bi_views_read_events" {
  dataset_id = google_bigquery_dataset.events.dataset_id

  dataset {
    dataset {
      project_id = google_bigquery_dataset.bi.project
      dataset_id = google_bigquery_dataset.bi.dataset_id
    }
    target_types = ["VIEWS"]
  }
}
