"""Slack's side of the Events API: what people do becomes deliveries to the bot, signed POSTs
to its request URL (HTTP mode) or envelopes over the emulator's Socket Mode connection."""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, overload
from urllib.parse import urlencode

import httpx

from tests.doubles.slack_emulator import OTHER_BOT_USER_ID, SharedFile, SlackEmulator
from tests.doubles.slack_emulator.socket_link import SocketModeLink
from tests.doubles.slack_emulator.socket_messages import EnvelopeType
from tests.doubles.slack_emulator.socket_mode import SocketDelivery
from tests.doubles.slack_payloads import (
    AppInstallation,
    app_home_opened_event,
    app_mention_event,
    block_actions,
    event_callback,
    find_button,
    mentions_bot,
    message_changed_event,
    message_deleted_event,
    message_event,
    reaction_event,
    slash_command,
    url_verification,
)
from tests.doubles.slack_signing import signed_headers

JSON_CONTENT = "application/json"
FORM_CONTENT = "application/x-www-form-urlencoded"
Envelope = dict[str, Any]
EventOrder = Literal["message_first", "mention_first"]
# Where Slack delivers: the bot's request URL, or the emulator's Socket Mode (`slack.socket_mode`).
Target = str | SocketModeLink
# What came back: the HTTP response, or the envelope's record with its acknowledgement.
Receipt = httpx.Response | SocketDelivery


class SlackEventSender:
    """Turns what people do in the emulated workspace into the signed requests Slack sends."""

    def __init__(
        self,
        emulator: SlackEmulator,
        signing_secret: str = "test-signing-secret",
        api_app_id: str = "A0CHORUS",
    ) -> None:
        self.emulator = emulator
        self.signing_secret = signing_secret
        self.install = AppInstallation(emulator.team_id, api_app_id, emulator.bot_user_id)
        self.last_envelopes: list[Envelope] = []
        self.last_responses: list[Receipt] = []

    # -- building ------------------------------------------------------------------------------

    def envelope(self, event: dict[str, Any]) -> Envelope:
        """Wrap one event in an `event_callback` envelope with a fresh event_id."""
        return event_callback(self.install, event)

    def events_for(
        self, channel: str, message: dict[str, Any], *, legacy_bot: bool = False
    ) -> list[dict[str, Any]]:
        """The events Slack sends for a new message: `message`, plus `app_mention` outside DMs."""
        kind = self.emulator.channel_kind(channel)
        events = [message_event(channel, kind, message, legacy_bot=legacy_bot)]
        if kind != "im" and mentions_bot(message, self.install.bot_user_id):
            events.append(app_mention_event(channel, message))
        return events

    # -- delivering ----------------------------------------------------------------------------

    def deliver(
        self,
        url: str,
        envelope: Envelope,
        *,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        timeout: float = 30.0,
    ) -> httpx.Response:
        """POST one envelope, signed now; a retry carries X-Slack-Retry-Num and -Reason. (Over
        Socket Mode: `slack.socket_mode.deliver(envelope, retry_attempt=…, retry_reason=…)`.)"""
        body = json.dumps(envelope).encode()
        headers = signed_headers(self.signing_secret, body, JSON_CONTENT)
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        return httpx.post(url, content=body, headers=headers, timeout=timeout, trust_env=False)

    def deliver_all(
        self,
        envelopes: Sequence[Envelope],
        to: Sequence[Target],
        *,
        concurrent: bool = False,
        check: bool = True,
    ) -> list[Receipt]:
        """Deliver every envelope to every target: in order, or all at once from threads."""
        jobs = [(target, envelope) for envelope in envelopes for target in to]
        responses: list[Receipt]
        if concurrent and len(jobs) > 1:
            with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
                responses = list(pool.map(lambda job: self._deliver_to(*job), jobs))
        else:
            responses = [self._deliver_to(target, envelope) for target, envelope in jobs]
        self.last_envelopes, self.last_responses = list(envelopes), responses
        if check:
            _require_acknowledged(responses)
        return responses

    def _deliver_to(self, target: Target, envelope: Envelope) -> Receipt:
        """Slack's first delivery of `envelope`: POSTed to a request URL, or pushed over the
        emulator's Socket Mode connection."""
        if isinstance(target, SocketModeLink):
            return target.deliver(envelope)
        return self.deliver(target, envelope)

    def url_verification(self, url: str, challenge: str = "chorus-challenge") -> httpx.Response:
        """The handshake Slack does when the request URL is set."""
        return self.deliver(url, url_verification(self.install, challenge))

    # -- what people do ------------------------------------------------------------------------

    def user_says(
        self,
        channel: str,
        user: str,
        text: str,
        *,
        to: Sequence[Target],
        thread_ts: str | None = None,
        order: EventOrder = "message_first",
        concurrent: bool = False,
        files: Sequence[str | SharedFile] = (),
        forwarding: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        """A person posts (with `files` shared along, forwarding the message `(channel, ts)`
        if given); Slack delivers its events. Returns the stored message (with ts)."""
        message = self.emulator.post_user_message(channel, user, text, thread_ts, files, forwarding)
        events = self.events_for(channel, message)
        if order == "mention_first":
            events.reverse()
        self.deliver_all([self.envelope(event) for event in events], to, concurrent=concurrent)
        return message

    def bot_posts(
        self,
        channel: str,
        text: str,
        *,
        to: Sequence[Target],
        thread_ts: str | None = None,
        legacy: bool = False,
    ) -> dict[str, Any]:
        """Another app's bot (U0OTHERBOT) posts; `legacy` sends it as subtype bot_message."""
        message = self.emulator.post_user_message(channel, OTHER_BOT_USER_ID, text, thread_ts)
        events = self.events_for(channel, message, legacy_bot=legacy)
        self.deliver_all([self.envelope(event) for event in events], to)
        return message

    def echo(self, channel: str, ts: str, *, to: Sequence[Target]) -> None:
        """Deliver the events Slack sends for an existing message, e.g. one the bot posted."""
        message = self.emulator.message(channel, ts)
        self.deliver_all([self.envelope(e) for e in self.events_for(channel, message)], to)

    def user_deletes(self, channel: str, ts: str, *, to: Sequence[Target]) -> None:
        """A message is deleted; Slack delivers `message_deleted`, or, for a message with
        thread replies (which stays as a tombstone), `message_changed`."""
        previous = self.emulator.delete_message(channel, ts)
        kind = self.emulator.channel_kind(channel)
        event_ts = self.emulator.next_ts()
        tombstone = self.emulator.message_or_none(channel, ts)
        if tombstone is None:
            event = message_deleted_event(channel, kind, previous, event_ts)
        else:
            event = message_changed_event(channel, kind, previous, tombstone, event_ts)
        self.deliver_all([self.envelope(event)], to)

    def user_edits(self, channel: str, ts: str, text: str, *, to: Sequence[Target]) -> None:
        """A person edits their message; Slack delivers `message_changed`, and when the edited
        message mentions the app outside a DM, `app_mention` again (marked `edited`)."""
        previous, current = self.emulator.edit_user_message(channel, ts, text)
        kind = self.emulator.channel_kind(channel)
        changed = message_changed_event(channel, kind, previous, current, self.emulator.next_ts())
        events = [changed]
        if kind != "im" and mentions_bot(current, self.install.bot_user_id):
            events.append(app_mention_event(channel, current))
        self.deliver_all([self.envelope(event) for event in events], to)

    def user_reacts(
        self, channel: str, ts: str, user: str, reaction: str, *, to: Sequence[Target]
    ) -> None:
        """A person adds :reaction: to a message; Slack delivers `reaction_added`."""
        self.emulator.add_reaction(channel, ts, user, reaction)
        self._deliver_reaction("reaction_added", channel, ts, user, reaction, to)

    def user_unreacts(
        self, channel: str, ts: str, user: str, reaction: str, *, to: Sequence[Target]
    ) -> None:
        """A person takes their :reaction: off a message; Slack delivers `reaction_removed`."""
        self.emulator.remove_reaction(channel, ts, user, reaction)
        self._deliver_reaction("reaction_removed", channel, ts, user, reaction, to)

    def _deliver_reaction(
        self, kind: str, channel: str, ts: str, user: str, reaction: str, to: Sequence[Target]
    ) -> None:
        message = self.emulator.message(channel, ts)
        event = reaction_event(kind, channel, message, user, reaction, self.emulator.next_ts())
        self.deliver_all([self.envelope(event)], to)

    def user_opens_home(self, user: str, *, to: Sequence[Target]) -> None:
        """A person opens the app's Home tab."""
        channel = self.emulator.direct_message_channel(user)
        event = app_home_opened_event(user, channel, self.emulator.next_ts())
        self.deliver_all([self.envelope(event)], to)

    @overload
    def user_runs_command(
        self, channel: str, user: str, text: str, *, to: str, command: str = ...
    ) -> httpx.Response: ...

    @overload
    def user_runs_command(
        self, channel: str, user: str, text: str, *, to: SocketModeLink, command: str = ...
    ) -> SocketDelivery: ...

    def user_runs_command(
        self, channel: str, user: str, text: str, *, to: Target, command: str = "/chorus"
    ) -> Receipt:
        """A person runs `/chorus text`; returns the bot's acknowledgement, whose body (HTTP)
        or payload (Socket Mode) Slack shows."""
        response_url = self.emulator.new_response_url()
        fields = slash_command(
            self.install,
            self.emulator.conversation(channel),
            self.emulator.user(user),
            command,
            text,
            response_url,
        )
        return self._deliver_form(to, dict(fields), fields, envelope_type="slash_commands")

    @overload
    def user_clicks(
        self,
        channel: str,
        ts: str,
        action_id: str,
        user: str,
        *,
        to: str,
        seen: dict[str, Any] | None = ...,
    ) -> httpx.Response: ...

    @overload
    def user_clicks(
        self,
        channel: str,
        ts: str,
        action_id: str,
        user: str,
        *,
        to: SocketModeLink,
        seen: dict[str, Any] | None = ...,
    ) -> SocketDelivery: ...

    def user_clicks(
        self,
        channel: str,
        ts: str,
        action_id: str,
        user: str,
        *,
        to: Target,
        seen: dict[str, Any] | None = None,
    ) -> Receipt:
        """A person clicks the button `action_id` on a message, as their Slack shows it:
        `seen`, an earlier copy not yet refreshed, or else the message as it is now. Returns
        the bot's acknowledgement."""
        message = seen if seen is not None else self.emulator.message(channel, ts)
        payload = block_actions(
            self.install,
            self.emulator.conversation(channel),
            self.emulator.user(user),
            message,
            find_button(message, action_id),
            self.emulator.new_response_url(),
        )
        form = {"payload": json.dumps(payload)}
        return self._deliver_form(to, payload, form, envelope_type="interactive")

    def _deliver_form(
        self,
        to: Target,
        payload: dict[str, Any],
        form: dict[str, str],
        *,
        envelope_type: EnvelopeType,
    ) -> Receipt:
        """Deliver what Slack POSTs as a form (a slash command, an interaction): `form` signed
        to a request URL, or `payload` as an `envelope_type` envelope over Socket Mode."""
        if isinstance(to, SocketModeLink):
            return to.deliver(payload, envelope_type=envelope_type)
        return self._post_form(to, form)

    def _post_form(self, url: str, fields: dict[str, str], timeout: float = 30.0) -> httpx.Response:
        body = urlencode(fields).encode()
        headers = signed_headers(self.signing_secret, body, FORM_CONTENT)
        return httpx.post(url, content=body, headers=headers, timeout=timeout, trust_env=False)


def _require_acknowledged(receipts: Sequence[Receipt]) -> None:
    refused = [reason for reason in map(_refusal, receipts) if reason]
    if refused:
        raise AssertionError("the bot did not acknowledge: " + "; ".join(refused))


def _refusal(receipt: Receipt) -> str:
    """Why `receipt` is no acknowledgement ("" when it is one)."""
    if isinstance(receipt, SocketDelivery):
        return "" if receipt.acked else f"envelope {receipt.envelope_id} got no ack over the socket"
    return (
        f"{receipt.url} -> {receipt.status_code} {receipt.text[:200]}" if receipt.is_error else ""
    )
