"""What a binding declaration is, and what it needs to become a live object."""

from __future__ import annotations

import abc
from typing import Any, Protocol


class Resources(Protocol):
    """Clients and physical resource names, on AWS or on the local cloud."""

    is_local: bool
    """True on the local cloud (moto), where some services (Bedrock) are not emulated."""

    def client(self, service: str) -> Any:
        """A boto3 client of `service` (cached)."""

    def resource_name(self, binding: str, default: str) -> str:
        """The physical name of a binding's resource (settings' `bindings`, else `default`)."""


class BindingSpec(abc.ABC):
    """A binding as declared in `WorkflowApp(bindings={...})`; `self.env.NAME` is its
    live object, made once per process by `bind`."""

    @abc.abstractmethod
    def bind(self, name: str, resources: Resources) -> Any:
        """The live object behind `self.env.<name>`."""

    def provision_local(self, name: str, resources: Resources, prefix: str) -> str | None:
        """Create the binding's resource on the local cloud; return its physical name
        (None when it has none)."""
        return None
