"""Reaching the app from outside the browser: ``api`` (the HTTP API, served by ``python -m core serve``). What the
server sends out (webhooks, and the guard on every address) is :mod:`core.hooks`, below the queue."""
