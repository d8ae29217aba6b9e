variable "project_id" {
  description = "Google Cloud project that holds the BigQuery datasets, the pipeline and its service accounts."
  type        = string
}

variable "region" {
  description = "Region of the Dataflow job, the template bucket and the image repository."
  type        = string
  default     = "us-central1"
}

variable "bigquery_location" {
  description = "Location of both BigQuery datasets (a multi-region such as US or EU, or a region)."
  type        = string
  default     = "US"
}

variable "dataset_id" {
  description = "Dataset of the tables the pipeline writes (events, events_dead_letter)."
  type        = string
  default     = "tapcart"
}

variable "bi_dataset_id" {
  description = "Dataset of the views BI users read; its views are authorized on the tables' dataset, so readers never get the raw tables."
  type        = string
  default     = "tapcart_bi"
}

variable "events_partition_expiration_days" {
  description = "Days an event partition (one day of event_time) is kept before BigQuery deletes it."
  type        = number
  default     = 730

  validation {
    condition     = var.events_partition_expiration_days >= 30
    error_message = "Keep at least 30 days of events: a backfill replays into existing partitions."
  }
}

variable "dead_letter_partition_expiration_days" {
  description = "Days a dead-letter partition (one day of failed_at) is kept; reprocess before then (infra/RUNBOOK.md)."
  type        = number
  default     = 90

  validation {
    condition     = var.dead_letter_partition_expiration_days >= 7
    error_message = "Keep dead letters for at least 7 days, so they can be reprocessed."
  }
}

variable "require_partition_filter" {
  description = "Refuse queries on the events table that do not filter on event_time (guards against full scans)."
  type        = bool
  default     = false
}

variable "kms_key_name" {
  description = "Cloud KMS key for the datasets and the bucket (customer-managed encryption); null keeps Google-managed keys."
  type        = string
  default     = null
}

variable "bi_readers" {
  description = "IAM members that read the BI views, e.g. [\"group:bi@example.com\"]."
  type        = list(string)
  default     = []
}

variable "pipeline_deployers" {
  description = "IAM members that build and launch the Flex Template (CI, on-call), e.g. [\"group:data-eng@example.com\"]."
  type        = list(string)
  default     = []
}

variable "gke_node_service_account" {
  description = "Email of the GKE nodes' service account, which pulls the receiver image; null skips the grant."
  type        = string
  default     = null
}

variable "receiver_domain" {
  description = "Public host name of the webhook (the URL registered with Tapcart), for the managed certificate."
  type        = string
}

variable "labels" {
  description = "Labels put on every resource that takes them."
  type        = map(string)
  default = {
    system = "tapcart-events"
  }
}
