"""Errors as JSON with a clear message and the field at fault.

Every error body has ``detail`` (one readable sentence) and ``field`` (the input at
fault, or null); validation errors also carry ``errors`` with every message per field.
"""
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler


class ApiError(exceptions.APIException):
    """An error a service reported, with the input it names."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(self, message: str, field: str | None = None, status_code: int | None = None, **extra):
        super().__init__(message)
        self.field = field
        self.extra = extra
        if status_code is not None:
            self.status_code = status_code


def _first_message(errors, prefix: str = "") -> tuple[str | None, str]:
    """The first (field, message) of DRF's nested validation errors."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = key if key != "non_field_errors" else None
            field, message = _first_message(value, f"{prefix}.{key}" if prefix and name else (name or prefix))
            return field, message
    if isinstance(errors, list) and errors:
        return _first_message(errors[0], prefix)
    return (prefix or None), str(errors)


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ApiError):
        response.data = {"detail": str(exc.detail), "field": exc.field, **exc.extra}
    elif isinstance(exc, exceptions.ValidationError):
        field, message = _first_message(response.data)
        detail = f"{field}: {message}" if field else message
        response.data = {"detail": detail, "field": field, "errors": response.data}
    else:
        detail = response.data.get("detail", response.data) if isinstance(response.data, dict) else response.data
        response.data = {"detail": str(detail), "field": None}
    return response
