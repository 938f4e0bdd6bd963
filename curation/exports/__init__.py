"""Dataset export (methods.md §5): one selection, labelling and splitting pipeline
shared by seven formats, streamed in batches, with a dataset card beside the data.

Entry points: ``manage.py export_dataset``, the export form on the project page
(a Celery job), the admin action on projects and the API all call
:func:`export_write` with validated :class:`ExportOptions`.
"""
from .formats import WRITERS
from .options import FORMATS, MARGINS, TIERS, ExportError, ExportOptions
from .run import ExportResult, export_write

__all__ = ["FORMATS", "MARGINS", "TIERS", "WRITERS", "ExportError", "ExportOptions", "ExportResult", "export_write"]
