"""Errors of the ingestion stage."""


class IngestError(Exception):
    """A load that cannot proceed; the message is one line naming the batch, file and fault."""


class FileFault(IngestError):
    """A file-level fault: nothing of the file (and so of its interface) is loaded."""

    def __init__(self, file_name: str, fault: str):
        super().__init__(f"{file_name}: {fault}")
        self.file_name, self.fault = file_name, fault
