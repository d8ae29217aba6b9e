#!/usr/bin/env bash
# Build and launch the pipeline's Dataflow Flex Template (infra/RUNBOOK.md: Deploy).
#
#   infra/dataflow/launch.sh image      build and push the template image (docker buildx)
#   infra/dataflow/launch.sh template   write the template spec to gs://$BUCKET/templates/
#   infra/dataflow/launch.sh run        start the streaming job $JOB_NAME
#   infra/dataflow/launch.sh update     replace the running job in place with the current template
#   infra/dataflow/launch.sh drain      drain the running job (finishes in-flight work, then stops)
#
# Settings (environment): PROJECT, REGION, BUCKET, IMAGE_REPOSITORY, SERVICE_ACCOUNT (the last
# three are outputs of infra/terraform), KAFKA_BOOTSTRAP_SERVERS, TAG (default: the git commit),
# JOB_NAME (tapcart-events), SUBNETWORK (regions/R/subnetworks/S; workers get no public IP),
# MAX_WORKERS (10), MACHINE_TYPE (n2-standard-2), DRY_RUN=1 prints the commands instead.
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${PROJECT:?set PROJECT}"
: "${REGION:?set REGION}"
: "${BUCKET:?set BUCKET (terraform output dataflow_bucket)}"
: "${IMAGE_REPOSITORY:?set IMAGE_REPOSITORY (terraform output image_repository)}"
TAG="${TAG:-$(git rev-parse --short=12 HEAD)}"
JOB_NAME="${JOB_NAME:-tapcart-events}"
MAX_WORKERS="${MAX_WORKERS:-10}"
MACHINE_TYPE="${MACHINE_TYPE:-n2-standard-2}"
IMAGE="$IMAGE_REPOSITORY/tapcart-events-pipeline:$TAG"
TEMPLATE="gs://$BUCKET/templates/tapcart-events-$TAG.json"
LAUNCHER_BASE="gcr.io/dataflow-templates-base/python311-template-launcher-base"

run() {
    if [[ "${DRY_RUN:-0}" == "1" ]]; then
        printf '%q ' "$@"
        printf '\n'
    else
        "$@"
    fi
}

image() {
    local digest
    if [[ "${DRY_RUN:-0}" == "1" ]]; then
        digest="sha256:DIGEST"
    else
        digest="$(gcloud container images describe "$LAUNCHER_BASE:latest" \
            --format='value(image_summary.digest)')"
    fi
    run docker buildx build --platform linux/amd64 --push \
        --file infra/dataflow/Dockerfile \
        --build-arg "LAUNCHER_IMAGE=$LAUNCHER_BASE@$digest" \
        --tag "$IMAGE" .
}

template() {
    run gcloud dataflow flex-template build "$TEMPLATE" \
        --project "$PROJECT" \
        --image "$IMAGE" \
        --sdk-language PYTHON \
        --metadata-file infra/dataflow/metadata.json
}

launch() {
    : "${SERVICE_ACCOUNT:?set SERVICE_ACCOUNT (terraform output pipeline_service_account)}"
    : "${KAFKA_BOOTSTRAP_SERVERS:?set KAFKA_BOOTSTRAP_SERVERS}"
    local network=()
    if [[ -n "${SUBNETWORK:-}" ]]; then
        network=(--subnetwork "$SUBNETWORK" --disable-public-ips)
    fi
    # Parameters are the template's own (metadata.json) plus sdk_container_image, so the
    # workers run the launcher's image; tests/unit/test_infra_dataflow.py checks the names.
    # `^~^` makes `~` the separator: the broker list itself holds commas (gcloud topic escaping).
    run gcloud dataflow flex-template run "$JOB_NAME" "$@" \
        --project "$PROJECT" \
        --region "$REGION" \
        --template-file-gcs-location "$TEMPLATE" \
        --service-account-email "$SERVICE_ACCOUNT" \
        --staging-location "gs://$BUCKET/staging" \
        --temp-location "gs://$BUCKET/temp" \
        --enable-streaming-engine \
        --max-workers "$MAX_WORKERS" \
        --worker-machine-type "$MACHINE_TYPE" \
        --additional-user-labels "system=tapcart-events,version=$TAG" \
        "${network[@]}" \
        --parameters "^~^bootstrap_servers=$KAFKA_BOOTSTRAP_SERVERS~sdk_container_image=$IMAGE"
}

drain() {
    local job_id
    if [[ "${DRY_RUN:-0}" == "1" ]]; then
        job_id="JOB_ID"
    else
        job_id="$(gcloud dataflow jobs list --project "$PROJECT" --region "$REGION" \
            --status active --filter "name=$JOB_NAME" --format 'value(id)' --limit 1)"
        [[ -n "$job_id" ]] || { echo "no active job named $JOB_NAME" >&2; exit 1; }
    fi
    run gcloud dataflow jobs drain "$job_id" --project "$PROJECT" --region "$REGION"
}

case "${1:-}" in
    image) image ;;
    template) template ;;
    run) launch ;;
    # Same job name, --update: Dataflow checks the new graph is compatible and keeps the state
    # (deduplication windows) and the Kafka offsets.
    update) launch --update ;;
    drain) drain ;;
    *)
        echo "usage: $0 {image|template|run|update|drain}" >&2
        exit 2
        ;;
esac
