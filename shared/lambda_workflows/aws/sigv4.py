"""SigV4 signing for requests to a deployed API (API Gateway with IAM auth), with
credentials from the standard AWS chain (environment, profile, SSO, instance role)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.exceptions import BotoCoreError
from botocore.session import Session

from lambda_workflows.errors import CredentialsError

SERVICE = "execute-api"
_API_GATEWAY_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$")


def region_of(url: str) -> str | None:
    """The region an API Gateway URL names (`<id>.execute-api.<region>.amazonaws.com`)."""
    match = _API_GATEWAY_HOST.search(urlsplit(url).hostname or "")
    return match.group(1) if match else None


@dataclass(frozen=True)
class SigV4Signer:
    """Adds `Authorization`, `X-Amz-Date` (and `X-Amz-Security-Token`) to a request."""

    credentials: ReadOnlyCredentials
    region: str
    service: str = SERVICE

    def sign(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> dict[str, str]:
        """The request's headers with the signature added."""
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        credentials = Credentials(*self.credentials)
        SigV4Auth(credentials, self.service, self.region).add_auth(request)
        return {name: str(value) for name, value in request.headers.items()}


def signer_from_chain(url: str, profile: str | None, region: str | None) -> SigV4Signer:
    """A signer for `url` with the credentials the AWS chain finds (`profile` first).

    The region is `region`, else the one in the API Gateway host name, else the
    profile's or environment's. Raises `CredentialsError` when there are none.
    """
    try:
        session = Session(profile=profile)
        credentials = session.get_credentials()
        chosen_region = (
            region
            or region_of(url)
            or os.environ.get("AWS_REGION")
            or session.get_config_variable("region")
        )
    except BotoCoreError as exc:
        raise CredentialsError(f"cannot load AWS credentials: {exc}") from exc
    if credentials is None:
        raise CredentialsError(
            "no AWS credentials found to sign the request: run `aws configure` or "
            "`aws sso login`, set AWS_PROFILE, or pass --profile"
        )
    if not chosen_region:
        raise CredentialsError(
            "no AWS region to sign the request for: pass --region, or set AWS_REGION "
            "(or AWS_DEFAULT_REGION, or region in your profile)"
        )
    return SigV4Signer(credentials.get_frozen_credentials(), str(chosen_region))
