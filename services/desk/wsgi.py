"""gunicorn entry point: `gunicorn services.desk.wsgi:app`."""

from services.desk.app import create_app

app = create_app()
