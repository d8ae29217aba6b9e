"""Offline validation tools for the production artefacts under infra/ (see README.md here)."""
