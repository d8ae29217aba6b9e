"""The pipeline's Dataflow Flex Template: image, metadata, launcher entry point, launch script."""
