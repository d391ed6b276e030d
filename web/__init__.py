"""The server-rendered web interface (DESIGN §9 "Web UI"), in Simplified Chinese.

Entry point: `web_setup(app)`, called on the app built by `app.factory.create_app`.
Handlers call the same services as the JSON API (DispatchService, accounts.services,
Suggester); nothing here goes through HTTP to the service itself.
"""

from web.setup import web_setup

__all__ = ["web_setup"]
