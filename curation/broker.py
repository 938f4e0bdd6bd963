"""The Celery broker as seen by code that starts jobs: connect, check, describe.

Starting a job (a generation job, an export) checks the broker *before* creating
anything, so a broker that is down gives a clear error and leaves no job behind.
Each check opens a new connection (not one from a pool): a broker that was down and
came back is used again at once, without restarting the web server.
"""
from django.conf import settings


class BrokerUnreachable(Exception):
    """The broker cannot be reached; the message names it (without its password)."""


def broker_connection():
    """A new connection to the configured broker (not from a pool: settings may change)."""
    from config.celery import app

    return app.connection_for_write(
        url=settings.CELERY_BROKER_URL,
        transport_options=getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}),
        connect_timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT,
    )


def broker_check(conn) -> None:
    """Connect once, without the usual retries; raises BrokerUnreachable."""
    try:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0,
                               timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT)
    except Exception as error:
        raise BrokerUnreachable(
            f"the task broker at {safe_url(settings.CELERY_BROKER_URL)} is unreachable "
            f"({type(error).__name__}: {error})"
        ) from error


def safe_url(url: str) -> str:
    """The broker URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://…@{rest.split('@', 1)[1]}"
    return url
