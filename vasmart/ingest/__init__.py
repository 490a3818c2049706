"""Ingestion: verified, reconciled, idempotent loading of delivered batches into the raw zone."""

from vasmart.ingest.delivery import expected_interfaces
from vasmart.ingest.errors import FileFault, IngestError
from vasmart.ingest.load import (
    BatchResult,
    InterfaceResult,
    close_batch,
    ingest_batch,
    ingest_interface,
    pending_batches,
)

__all__ = [
    "BatchResult",
    "FileFault",
    "IngestError",
    "InterfaceResult",
    "close_batch",
    "expected_interfaces",
    "ingest_batch",
    "ingest_interface",
    "pending_batches",
]
