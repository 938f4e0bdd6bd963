import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Users made here log in to live servers that run tests.support.live_settings:
    the same cheap hasher on both sides."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
