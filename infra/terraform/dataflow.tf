# What the Flex Template needs besides the job itself (infra/dataflow/).

resource "google_storage_bucket" "dataflow" {
  #checkov:skip=CKV_GCP_62:object access is recorded by Cloud Audit Logs; usage-log buckets are not part of this stack
  name                        = "${var.project_id}-tapcart-dataflow"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = var.labels

  versioning {
    enabled = true
  }

  # Staging and temp files are only needed while a job starts or runs.
  lifecycle_rule {
    condition {
      age            = 14
      matches_prefix = ["staging/", "temp/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }
}

resource "google_artifact_registry_repository" "images" {
  location      = var.region
  repository_id = "tapcart"
  description   = "Images of the Tapcart events stack: receiver and the pipeline's Flex Template."
  format        = "DOCKER"
  labels        = var.labels
  kms_key_name  = var.kms_key_name

  docker_config {
    immutable_tags = true
  }
}
