"""Reaching the app from outside the browser: ``api`` (the HTTP API), ``webhooks`` (job endings sent out) and
``egress`` (what guards every request the server sends to an address someone gave it)."""
