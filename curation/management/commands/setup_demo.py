"""Creates the demo admin and the demo project; running it again changes nothing."""
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from curation.importers import dataset_import
from curation.models import Project
from curation.services import membership_set, project_create

DEMO_PROMPTS = Path(__file__).resolve().parents[2] / "demo" / "prompts.jsonl"
DEMO_SLUG = "demo"


class Command(BaseCommand):
    help = "Create the demo admin (login printed) and the demo project with its prompts. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    @transaction.atomic
    def handle(self, *args, username: str, **options):
        User = get_user_model()
        password_file = Path(settings.VAR_DIR) / "demo_admin_password"
        user = User.objects.filter(username=username).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = User.objects.create_superuser(username=username, email="", password=password)
            password_file.write_text(password)
            password_file.chmod(0o600)
        password = password_file.read_text().strip() if password_file.exists() else "(set before; unchanged)"
        project = Project.objects.filter(slug=DEMO_SLUG).first()
        if project is None:
            project = project_create(
                name="Demo",
                slug=DEMO_SLUG,
                created_by=user,
                description="Prompts across facts, reasoning, coding, writing, advice and safety.",
                instructions=(
                    "Compare the two responses to the prompt. Prefer the one that answers what was "
                    "asked, correctly and safely. Length is not merit. Use a tie when neither is better."
                ),
            )
        membership_set(project=project, user=user, role="admin")
        summary = dataset_import(path=DEMO_PROMPTS, project=project, fmt="concord", source="concord-demo")
        self.stdout.write(f"Demo project: {project.name} ({summary.counts['prompts_created']} new prompts).")
        self.stdout.write(f"Login: {username} / {password}")
