output "pipeline_service_account" {
  description = "Pass as --service-account-email when launching the Flex Template."
  value       = google_service_account.pipeline.email
}

output "dataflow_bucket" {
  description = "Bucket for the template spec (templates/), staging and temp files."
  value       = google_storage_bucket.dataflow.name
}

output "image_repository" {
  description = "Artifact Registry path of the images: receiver and tapcart-events-pipeline."
  value       = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "events_table" {
  description = "The events table the pipeline writes."
  value       = "${var.project_id}.${google_bigquery_dataset.events.dataset_id}.${google_bigquery_table.events.table_id}"
}

output "bi_views" {
  description = "Views BI users query."
  value = concat(
    [google_bigquery_table.events_deduplicated.table_id],
    sort([for view in google_bigquery_table.event_type_views : view.table_id]),
  )
}

output "receiver_ip" {
  description = "Point the receiver's DNS name (receiver_domain) at this address."
  value       = google_compute_global_address.receiver.address
}
