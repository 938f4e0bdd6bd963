from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"
    verbose_name = "Generation"

    def ready(self) -> None:
        # Curation never imports generation; the API starts and cancels jobs through
        # the service registered here.
        from curation.job_service import register_job_service

        from . import jobs

        register_job_service(start=jobs.job_start_for_api, cancel=jobs.job_cancel_for_api)
