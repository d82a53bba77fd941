"""Slack's errors and what they mean: Slack unreachable (or failed partway), a refusal only an
admin can fix, a refusal that would be repeated, an answer that is not the Web API's."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import aiohttp
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

_TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)
UNREACHABLE = "slack_unreachable"  # the error code of `SlackUnreachable`


class SlackUnreachable(SlackApiError):
    """Slack could not be reached, did not answer in time, failed (HTTP 5xx), or something in
    front of it answered in its place (a proxy's page): what was asked may or may not have
    been done, and may be taken later. A `SlackApiError` (code `slack_unreachable`), so it is
    handled wherever Slack's own refusals are."""

    def __init__(self, doing: str) -> None:
        super().__init__(f"no answer from Slack {doing}", {"ok": False, "error": UNREACHABLE})


def untrusted_certificate(error: aiohttp.ClientConnectorCertificateError) -> str:
    """Why a server's certificate was refused, and what to set for a proxy that re-signs TLS
    (its CA is no public one), to follow "… presented a certificate"."""
    verified = error.certificate_error
    return (
        f"this machine does not trust ({getattr(verified, 'verify_message', None) or verified})"
        "; behind a proxy that re-signs TLS, set SSL_CERT_FILE in the environment to a file of "
        "the CAs to trust"
    )


def transport_failure(error: BaseException) -> str:
    """A connection-level error for the log: its kind and message, never its `repr`, which
    for aiohttp's response errors carries the request's headers, the bot token among them."""
    return f"{type(error).__name__}: {error}"


# Slack's own refusals that say it failed partway: "it's possible some aspect of the operation
# succeeded before the error was raised" (Slack's list of errors every method may answer).
_MAYBE_DONE = frozenset({"internal_error", "fatal_error"})


@contextmanager
def reaching_slack(doing: str) -> Iterator[None]:
    """Connection failures, timeouts and server errors (after slack_sdk's own retries), a
    page in place of Slack's answer (whatever its status), and Slack's answers that it failed
    partway (`_MAYBE_DONE`), as `SlackUnreachable`: only Slack's own refusals stay refusals."""
    try:
        yield
    except _TRANSPORT_ERRORS as error:
        log.warning("no answer from Slack %s: %s", doing, transport_failure(error))
        raise SlackUnreachable(doing) from error
    except SlackApiError as error:
        if (status := http_status(error)) >= 500:
            log.warning("Slack failed %s: HTTP %d", doing, status)
        elif not answered_as_slack(error):
            # A page in place of Slack's answer (a proxy's sign-in or "access denied" page, a
            # gateway's own 404 or 429, an answer cut short) says nothing of whether it was
            # done, nor that Slack would refuse it: it is tried again later, as in an outage.
            log.warning("no answer from Slack %s: HTTP %d, not the Web API's JSON", doing, status)
        elif answered_as_slack(error) and error.response.get("error") in _MAYBE_DONE:
            log.warning("Slack failed %s: %s", doing, error.response.get("error"))
        else:
            if answered_as_slack(error):
                _tell_the_admin(slack_error_code(error), str(error.response.get("needed", "")))
            raise
        raise SlackUnreachable(doing) from error


# Slack's refusals of the bot's token once it is running: the app was uninstalled, the token
# revoked or rotated. Every call fails alike until an admin acts.
_TOKEN_REFUSED = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)


@cache  # once a process: every later call is refused alike, each logged by its caller
def _tell_the_admin(code: str, needed_scope: str) -> None:
    """One ERROR line for a refusal only an admin can fix (the callers' lines say what each
    call was, not what to do): a token no longer valid, a scope the app was not granted."""
    if code in _TOKEN_REFUSED:
        log.error(
            "Slack no longer accepts the bot token (%s): set SLACK_BOT_TOKEN to the app's "
            "current Bot User OAuth Token (reinstall the app if it was uninstalled) and restart",
            code,
        )
    elif code == "missing_scope":
        log.error(
            "the app lacks the Slack scope %s: add the scopes manifest.yml lists to the app "
            "and reinstall it",
            needed_scope or "it needs",
        )


def slack_error_code(error: SlackApiError) -> str:
    """Slack's error code, or `http_<status>` for an answer that is not the Web API's JSON (a
    proxy's error page, a URL that is not the API's)."""
    if not answered_as_slack(error):
        return f"http_{http_status(error)}"
    return str(error.response.get("error", "unknown_error"))


def http_status(error: SlackApiError) -> int:
    """The HTTP status of Slack's answer. A body labelled JSON that is not (a proxy's error
    page, a cut-off answer) comes with aiohttp's response, which says `status`, not a
    SlackResponse."""
    response = error.response
    status = getattr(response, "status_code", None)
    return int(status if status is not None else getattr(response, "status", 0))


def answered_as_slack(error: SlackApiError) -> bool:
    """Whether the refusal came as the Web API's JSON (or is our own `SlackUnreachable`)."""
    response = error.response
    data = response if isinstance(response, dict) else getattr(response, "data", None)
    # slack_sdk hands on `{}` for a body that is not JSON (a proxy's HTML error page); the
    # Web API's JSON always says `ok`.
    return isinstance(data, dict) and "ok" in data


# Slack's answers that may change if asked again later; any other refusal (the message or the
# channel is gone, the workspace restricts posting, a scope or the token is missing…) would
# be repeated, so what was refused is given up rather than retried forever.
_FOR_NOW = frozenset(
    {
        UNREACHABLE,
        "ratelimited",  # still, after slack_sdk's own retries
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    }
)


def token_refused(error: SlackApiError) -> bool:
    """Slack refuses the bot's token: every call fails alike until an admin sets a token
    that works and restarts the bot, which then does what was refused."""
    return answered_as_slack(error) and slack_error_code(error) in _TOKEN_REFUSED


def refused_for_good(error: SlackApiError) -> bool:
    """Slack refused, in its own JSON, and would refuse again (unlike a rate limit or an
    outage). An answer that is not Slack's (a proxy's page) refuses nothing for good."""
    return answered_as_slack(error) and slack_error_code(error) not in _FOR_NOW
