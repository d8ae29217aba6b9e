terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source = "hashicorp/google"
      # tests/unit/test_infra_terraform.py checks every resource against this provider's schema.
      version = "~> 6.50"
    }
  }

  # State lives in a bucket the platform team owns; pass it at init:
  #   terraform init -backend-config="bucket=STATE_BUCKET" -backend-config="prefix=tapcart-events"
  backend "gcs" {}
}

provider "google" {
  project = var.project_id
  region  = var.region
}
