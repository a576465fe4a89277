"""A plain HTTP client of the simulator, as a test reads it without the exporter's client."""

from __future__ import annotations

import requests


def signed_in(
    base: str,
    client: tuple[str, str] = ("demo-client", "demo-secret"),
    user: tuple[str, str] = ("demo-user", "demo-password"),
) -> requests.Session:
    """A session that sends the OAuth token and the M2M session token the simulator issued."""
    http = requests.Session()
    token = http.post(
        base + "/api/ts/v1/oauth2/token", auth=client, data={"grant_type": "client_credentials"}, timeout=10
    ).json()["access_token"]
    http.headers["Authorization"] = f"Bearer {token}"
    username, password = user
    http.headers["VZ-M2M-Token"] = http.post(
        base + "/api/m2m/v1/session/login", json={"username": username, "password": password}, timeout=10
    ).json()["sessionToken"]
    return http
