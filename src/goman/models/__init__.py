"""Pydantic documents that cross the wire (S3). Every read validates."""
