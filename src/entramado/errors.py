"""One exception hierarchy for the whole platform.

Each error carries an X-Road-style ``type`` (``Client.*`` for the caller's mistakes,
``Server.ClientProxy.*`` for failures at the caller's gateway, ``Server.ServerProxy.*`` at the
provider's gateway) and the HTTP status it maps to. ``docs/protocol.md`` lists them all.
"""

from __future__ import annotations

from typing import ClassVar


class EntramadoError(Exception):
    """Base of every error a user may see: a type, a short message and a detail."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "Server.InternalError"

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(f"{message} ({detail})" if detail else message)
        self.message = message
        self.detail = detail

    def body(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message, "detail": self.detail}


class BadRequest(EntramadoError):
    """Malformed identifier, header or body."""

    status = 400
    type = "Client.BadRequest"


class MissingPurpose(EntramadoError):
    """A personal-data service was called without Entramado-Purpose."""

    status = 400
    type = "Client.MissingPurpose"


class UnknownClient(EntramadoError):
    """X-Road-Client is not a subsystem this gateway serves."""

    status = 403
    type = "Client.UnknownClient"


class UnknownService(EntramadoError):
    """No such service in the configuration."""

    status = 404
    type = "Client.UnknownService"


class PayloadTooLarge(EntramadoError):
    """Body larger than the limit."""

    status = 413
    type = "Client.PayloadTooLarge"


class Unauthorized(EntramadoError):
    """Missing or wrong credentials."""

    status = 401
    type = "Client.Unauthorized"


class NotFound(EntramadoError):
    """No such object."""

    status = 404
    type = "Client.NotFound"


class Conflict(EntramadoError):
    """The object exists already or is in the wrong state."""

    status = 409
    type = "Client.Conflict"


class NetworkError(EntramadoError):
    """No provider gateway could be reached."""

    status = 502
    type = "Server.ClientProxy.NetworkError"


class ProviderGatewayTimeout(EntramadoError):
    """The provider gateway did not answer in time."""

    status = 504
    type = "Server.ClientProxy.Timeout"


class InvalidSignature(EntramadoError):
    """The request signature did not verify."""

    status = 403
    type = "Server.ServerProxy.InvalidSignature"


class ReplayedMessage(EntramadoError):
    """The message was seen already or is too old."""

    status = 409
    type = "Server.ServerProxy.ReplayedMessage"


class AccessDenied(EntramadoError):
    """No grant allows this client, endpoint and purpose."""

    status = 403
    type = "Server.ServerProxy.AccessDenied"


class ProviderConfigurationExpired(EntramadoError):
    """The provider's configuration expired."""

    status = 503
    type = "Server.ServerProxy.ConfigurationExpired"


class ServiceFailed(EntramadoError):
    """The provider's system failed."""

    status = 502
    type = "Server.ServerProxy.ServiceFailed"


class ServiceTimeout(EntramadoError):
    """The provider's system did not answer in time."""

    status = 504
    type = "Server.ServerProxy.ServiceTimeout"


class MissingDataSubject(EntramadoError):
    """A personal-data service was called without Entramado-Data-Subject."""

    status = 400
    type = "Client.MissingDataSubject"


class ConfigurationExpired(EntramadoError):
    """The gateway's network configuration is missing, invalid or expired."""

    status = 503
    type = "Server.ClientProxy.ConfigurationExpired"


class InvalidResponseSignature(EntramadoError):
    """The provider gateway's response signature or request hash did not verify."""

    status = 502
    type = "Server.ClientProxy.InvalidSignature"


class AuthenticationFailed(EntramadoError):
    """The peer gateway's TLS certificate is unknown, revoked or not its member's."""

    status = 403
    type = "Server.ServerProxy.SslAuthenticationFailed"


class MethodNotAllowed(EntramadoError):
    """The method cannot be carried through the network (HEAD) or the route does not take it."""

    status = 405
    type = "Client.MethodNotAllowed"
