"""`Email`: send mail through Amazon SES (v2) from one verified sender."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lambda_workflows.bindings.base import BindingSpec, Resources
from lambda_workflows.errors import ValidationError


class SesEmail:
    """The live object of an `Email` binding."""

    def __init__(self, ses: Any, sender: str) -> None:
        self._ses = ses
        self.sender = sender

    def send(
        self, to: str | Iterable[str], subject: str, text: str, *, html: str | None = None
    ) -> str:
        """Send a message; returns SES's message id."""
        recipients = [to] if isinstance(to, str) else list(to)
        if not recipients or not all(isinstance(r, str) and "@" in r for r in recipients):
            raise ValidationError(f"Email.send: bad recipients {recipients!r}")
        body: dict[str, Any] = {"Text": {"Data": text}}
        if html is not None:
            body["Html"] = {"Data": html}
        response = self._ses.send_email(
            FromEmailAddress=self.sender,
            Destination={"ToAddresses": recipients},
            Content={"Simple": {"Subject": {"Data": subject}, "Body": body}},
        )
        return str(response["MessageId"])


@dataclass(frozen=True)
class Email(BindingSpec):
    """Mail from `sender` (an SES-verified identity; the local cloud verifies it)."""

    sender: str

    def __post_init__(self) -> None:
        if "@" not in self.sender:
            raise ValidationError(f"Email: sender must be an address, got {self.sender!r}")

    def bind(self, name: str, resources: Resources) -> SesEmail:
        return SesEmail(resources.client("sesv2"), self.sender)

    def provision_local(self, name: str, resources: Resources, prefix: str) -> None:
        resources.client("sesv2").create_email_identity(EmailIdentity=self.sender)
