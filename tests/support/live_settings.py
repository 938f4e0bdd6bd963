"""Settings of the live servers that tests start (tests/support/server.py): the real
settings, with the cheap password hasher the tests' own users are created with."""
from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Like tests/conftest.py: never depend on a collectstatic run lying around in var/.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
