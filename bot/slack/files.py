"""Downloading the files people attach to their messages (the `files:read` scope)."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

import aiohttp

from bot.chat.attachments import MAX_FILE_BYTES, AttachedFile
from bot.slack.inbound import attached_file
from bot.slack.slack_errors import transport_failure
from bot.slack.web import SlackWeb
from bot.slack.web_client import environment_proxy

log = logging.getLogger(__name__)

_DOWNLOAD_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)
# The round waits for its files: a slow download must not hold the placeholders back long.
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=10)
UNDESCRIBED_FILE = "a file shared from another organisation"


class SlackFiles:
    """Looks up what a shared file is (files.info, for one shared from another organisation)
    and fetches its bytes from its private URL with the bot token. The token is only ever
    sent to the Slack API's own host or one of its subdomains (`files.slack.com` for
    `slack.com`), never to another address a file object might name."""

    def __init__(
        self, web: SlackWeb, session: aiohttp.ClientSession, token: str, api_url: str
    ) -> None:
        self._web = web
        self._session = session
        self._token = token
        api = urlsplit(api_url)
        self._scheme, self._host = api.scheme, (api.hostname or "")

    async def describe(self, file: AttachedFile) -> AttachedFile:
        """The file as files.info describes it when its event carried only its id; one that
        cannot be looked up stays unreadable, under a name that says what it is."""
        if file.described or file.file_id is None:
            return file
        found = await self._web.file_info(file.file_id)
        described = attached_file(found) if found is not None else None
        if described is None or not described.described:
            return AttachedFile(UNDESCRIBED_FILE, file_id=file.file_id, described=False)
        return described

    async def read(self, file: AttachedFile) -> bytes | None:
        """The file's bytes, or None (logged) when Slack does not hand them over: no
        `files:read` scope, the file deleted or too large, Slack unreachable."""
        if file.url is None or not self._is_slack_file_url(file.url):
            log.warning("attached file %s not downloaded: its URL is not Slack's", _logged(file))
            return None
        headers = {"Authorization": f"Bearer {self._token}"}
        # The proxy looked up as aiohttp's `trust_env` would (the session does not: see
        # `open_web_session`), in a thread as it does: it reads ~/.netrc.
        proxy, proxy_headers = await asyncio.to_thread(environment_proxy, file.url)
        try:
            async with self._session.get(
                file.url,
                headers=headers,
                allow_redirects=False,
                timeout=DOWNLOAD_TIMEOUT,
                proxy=proxy,
                proxy_headers=proxy_headers,
            ) as got:
                # Without the scope Slack answers with (or redirects to) its sign-in page.
                signed_out = got.content_type == "text/html" and file.mimetype != "text/html"
                if got.status != 200 or signed_out:
                    log.warning(
                        "attached file %s not downloaded: HTTP %d %s (does the app have the "
                        "files:read scope?)",
                        _logged(file),
                        got.status,
                        got.content_type,
                    )
                    return None
                data = bytearray()
                async for chunk in got.content.iter_chunked(64 * 1024):
                    data += chunk
                    if len(data) > MAX_FILE_BYTES:
                        log.info(
                            "attached file %s is larger than Slack said; not shown", _logged(file)
                        )
                        return None
        except _DOWNLOAD_ERRORS as error:
            log.warning(
                "attached file %s not downloaded: %s", _logged(file), _download_failure(error)
            )
            return None
        return bytes(data)

    def _is_slack_file_url(self, url: str) -> bool:
        parts = urlsplit(url)
        host = parts.hostname or ""
        same_site = host == self._host or host.endswith("." + self._host)
        return same_site and parts.scheme in ("https", self._scheme)


def _logged(file: AttachedFile) -> str:
    """A file as the logs name it: by Slack's id and its type, never by the name a person
    gave it (the logs keep nothing people said)."""
    return f"{file.file_id or '(no id)'} ({file.mimetype or 'type unknown'})"


def _download_failure(error: BaseException) -> str:
    """A failed download for the log, without the file's URL (Slack's ends with its name)."""
    if isinstance(error, aiohttp.ClientResponseError):
        return f"{type(error).__name__}: HTTP {error.status} {error.message}"
    if isinstance(error, aiohttp.InvalidURL):
        return type(error).__name__
    return transport_failure(error)
