"""gunicorn entry point: `gunicorn services.availability.wsgi:app`."""

from services.availability.app import create_app

app = create_app()
