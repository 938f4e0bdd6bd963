"""A clear 503 page when the database cannot be reached, instead of a traceback."""
import logging
import sys

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

DATABASE_DOWN = (OperationalError, InterfaceError)


def _is_database_down(exception: BaseException | None) -> bool:
    while exception is not None:
        if isinstance(exception, DATABASE_DOWN) and not _is_lock_error(exception):
            return True
        exception = exception.__cause__ or exception.__context__
    return False


def _is_lock_error(exception: DatabaseError) -> bool:
    return "locked" in str(exception).lower() and "database" in str(exception).lower()


def database_unavailable_response(request: HttpRequest) -> HttpResponse:
    wants_json = request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")
    if wants_json:
        response = HttpResponse(
            b'{"detail": "The database is unavailable. Try again in a moment."}',
            status=503,
            content_type="application/json",
        )
    else:
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = "5"
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if _is_database_down(exception):
            logger.warning("database unavailable: %s", exception)
            return database_unavailable_response(request)
        return None


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: database outages raised outside a view still get the 503 page."""
    if _is_database_down(sys.exc_info()[1]):
        return database_unavailable_response(request)
    return HttpResponse(render_to_string("500.html"), status=500)
