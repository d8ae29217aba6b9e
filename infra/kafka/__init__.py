"""Production Kafka topics: their definitions (topics.json) and the tool that applies them."""
