"""python manage.py api_token USERNAME [--reset]"""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = (
        "Print the REST API token of a user, creating it if needed. Send it as "
        "'Authorization: Token <key>'. A user can also get theirs with "
        "POST /api/auth/token/ (username, password)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="the user the token belongs to")
        parser.add_argument("--reset", action="store_true", help="replace the existing token (the old one stops working)")

    def handle(self, *args, username, reset, **options):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {username!r}.")
        if reset:
            Token.objects.filter(user=user).delete()
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
