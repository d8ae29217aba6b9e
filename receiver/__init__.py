"""The webhook receiver: Tapcart's POSTs in, durable Kafka records out."""
