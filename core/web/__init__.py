"""Reaching the app from outside the browser: ``api`` (the HTTP API) and ``webhooks`` (job endings sent out)."""
