# The receiver's public address and certificate, used by infra/k8s/receiver-ingress.yaml
# (annotations kubernetes.io/ingress.global-static-ip-name and ingress.gcp.kubernetes.io/pre-shared-cert).

resource "google_compute_global_address" "receiver" {
  name        = "tapcart-receiver"
  description = "Public IP of the Tapcart webhook receiver's load balancer."
}

resource "google_compute_managed_ssl_certificate" "receiver" {
  name = "tapcart-receiver"

  managed {
    domains = [var.receiver_domain]
  }
}

# RECEIVER_TOKENS lives here; versions are added by hand (infra/RUNBOOK.md: rotate the token).
resource "google_secret_manager_secret" "receiver_tokens" {
  secret_id = "tapcart-receiver-tokens"
  labels    = var.labels

  replication {
    auto {}
  }
}
