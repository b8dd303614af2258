"""A small blocking client of the admin API, for the CLI and the demo driver (stdlib only)."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.errors import GatewayError


class ApiError(GatewayError):
    """The gateway answered with an error status; the message carries its JSON error."""

    def __init__(self, method: str, url: str, status: int, body: bytes) -> None:
        try:
            error = json.loads(body)["error"]
            where, message = error.get("where"), str(error["message"])
            detail = f"{where}: {message}" if where and not message.startswith(where) else message
        except (ValueError, KeyError, TypeError):
            detail = body[:500].decode(errors="replace")
        super().__init__(f"{method} {url} -> {status}: {detail}")
        self.status = status


@dataclass(frozen=True)
class AdminClient:
    base_url: str
    token: str | None = None
    timeout_s: float = 30.0

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        data: bytes | None = None,
        content_type: str = "application/json",
    ) -> Any:
        url = self.base_url.rstrip("/") + path
        if body is not None:
            data = json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", content_type)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise ApiError(method, url, exc.code, exc.read()) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise GatewayError(
                f"cannot reach the gateway at {self.base_url} ({reason}); is it running? "
                "(abgate serve, or set --url / ABGATE_PORT)"
            ) from None
        try:
            return json.loads(raw)
        except ValueError:
            raise GatewayError(
                f"{method} {url}: the answer is not JSON ({raw[:80]!r}); is {self.base_url} "
                "an abgate gateway?"
            ) from None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def upload(self, path: str, json_part: str, value: Any, file_part: str, file: Path) -> Any:
        """A multipart upload: ``value`` as the JSON part, ``file`` as the file part."""
        boundary = uuid.uuid4().hex
        parts = [
            (
                json_part.encode(),
                f"{json_part}.json".encode(),
                b"application/json",
                json.dumps(value).encode(),
            ),
            (
                file_part.encode(),
                file.name.encode(),
                b"application/octet-stream",
                file.read_bytes(),
            ),
        ]
        body = b""
        for name, filename, ctype, payload in parts:
            body += (
                b"--" + boundary.encode() + b"\r\n"
                b'Content-Disposition: form-data; name="'
                + name
                + b'"; filename="'
                + filename
                + b'"\r\n'
                b"Content-Type: " + ctype + b"\r\n\r\n" + payload + b"\r\n"
            )
        body += b"--" + boundary.encode() + b"--\r\n"
        return self.request(
            "POST", path, data=body, content_type=f"multipart/form-data; boundary={boundary}"
        )

    def register_model(self, card: dict[str, Any], model: Path) -> Any:
        return self.upload("/v1/models", "card", card, "model", model)

    def create_dataset(self, meta: dict[str, Any], file: Path) -> Any:
        return self.upload("/v1/datasets", "meta", meta, "file", file)
