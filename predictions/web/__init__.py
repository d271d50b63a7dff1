"""The web layer: pages, forms, the account page, access control, HTTP ranges, health checks, the
middleware (request errors, time zones) and URL ids. The REST API (``predictions.api``) sits beside it."""
