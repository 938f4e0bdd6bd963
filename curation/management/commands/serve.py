"""Start the web server and a Celery worker together; Ctrl-C stops both."""
import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run the web server (gunicorn) and a Celery worker serving both queues. "
        "Ctrl-C stops both cleanly; if one exits, the other is stopped too."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument("--no-worker", action="store_true", help="web server only")
        parser.add_argument("--queues", default="generation,default")

    def handle(self, *args, host, port, web_workers, no_worker, queues, **options):
        python = sys.executable
        web = [
            python, "-m", "gunicorn", "config.wsgi:application",
            "--bind", f"{host}:{port}", "--workers", str(web_workers), "--threads", "4",
            "--timeout", "600", "--graceful-timeout", "10", "--access-logfile", "-",
        ]
        worker = [
            python, "-m", "celery", "-A", "config", "worker", "-Q", queues,
            "--concurrency", "1", "--loglevel", "INFO", "--hostname", f"concord@{os.uname().nodename}",
        ]
        processes: list[subprocess.Popen] = []
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        # Children get their own process group so Ctrl-C reaches them only through us.
        processes.append(subprocess.Popen(web, start_new_session=True))
        if not no_worker:
            processes.append(subprocess.Popen(worker, start_new_session=True))
        self._wait_until_listening(host, port, processes[0])
        mode = "embedded (SQLite + filesystem broker)" if settings.EMBEDDED else "external database"
        self.stdout.write(
            self.style.SUCCESS(f"Concord is running at http://{host}:{port}/ — {mode}. Ctrl-C stops it.")
        )
        exit_code = 0
        try:
            while not stopping:
                for process in processes:
                    if process.poll() is not None:
                        self.stderr.write(f"{process.args[2]} exited with status {process.returncode}; stopping.")
                        exit_code = process.returncode or 1
                        stopping = True
                time.sleep(0.5)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for process in processes:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            self.stdout.write("Stopped web server and worker.")
        if exit_code:
            sys.exit(exit_code)

    def _wait_until_listening(self, host: str, port: int, web: subprocess.Popen) -> None:
        """Print the URL only once it answers."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and web.poll() is None:
            try:
                with socket.create_connection((host if host != "0.0.0.0" else "127.0.0.1", port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
