"""The WSGI entry point (gunicorn wsgi:app; flask --app wsgi ...). Nothing imports this."""

from supervision import create_app

app = create_app()
