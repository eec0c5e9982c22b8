"""How the app is started in production: ``python -m chat_app.launch serve`` (scripts/start.sh).

The frontend is compiled once for the URL browsers use (``frontend``), then the ASGI server is
exec'd directly with the app's factory (``server``): one process for ``WORKERS=1``, a uvicorn
supervisor and N workers otherwise. Nothing here imports the app itself.
"""
