"""The faults of a fault run, drawn from a seeded random generator so that a run can be repeated.

Provider faults are drawn per request: the n-th request a model receives gets the same fault in
every run with the same seed. Slack faults are bursts of 429s and lost replies (the connection
drops before Slack's reply, whether or not the call was done) drawn per round, on top of a
steady per-second limit. How each event reaches the bot (which replica, Slack's retries) is
drawn per person's message.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from tests.doubles import ModelFault, ModelScript, SlackEmulator

# (name, weight); a stream fault strikes after 1-3 text chunks.
PROVIDER_FAULTS: tuple[tuple[str, int], ...] = (
    ("429 with Retry-After", 3),
    ("500", 2),
    ("503", 2),
    ("529 overloaded", 2),  # Anthropic's own status; the others get a 503 instead
    ("hang before first token", 2),
    ("stream cut midway", 2),
    ("malformed chunk", 1),
    ("in-stream error", 1),
    ("refusal", 1),
)


def provider_fault(name: str, provider: str, chunks: int) -> ModelFault:
    """The `ModelFault` a fault name stands for at `provider`."""
    match name:
        case "429 with Retry-After":
            return ModelFault(status=429, retry_after=1)
        case "500":
            return ModelFault(status=500)
        case "503":
            return ModelFault(status=503)
        case "529 overloaded":
            return ModelFault(status=529 if provider == "anthropic" else 503)
        case "hang before first token":
            return ModelFault(hang_before_first_token=True)
        case "stream cut midway":
            return ModelFault(cut_after_chunks=chunks)
        case "malformed chunk":
            return ModelFault(malformed_after_chunks=chunks)
        case "in-stream error":
            return ModelFault(stream_error_after_chunks=chunks)
        case "refusal":
            return ModelFault(refusal=True)
    raise ValueError(f"unknown provider fault {name!r}")


@dataclass(frozen=True)
class RandomlyFailingModel(ModelScript):
    """A fake model whose every request fails with probability `fault_rate`, with a fault drawn
    from PROVIDER_FAULTS by (seed, model, request number)."""

    name: str = ""  # `provider:model-id`
    seed: int = 0
    fault_rate: float = 0.25

    def planned_fault(self, request_number: int) -> str | None:
        """The name of the fault the `request_number`-th request (from 0) gets, if any."""
        rng = random.Random(f"{self.seed}:{self.name}:{request_number}")
        if rng.random() >= self.fault_rate:
            return None
        names, weights = zip(*PROVIDER_FAULTS, strict=True)
        return rng.choices(names, weights)[0]

    def fault_for(self, request_number: int) -> ModelFault | None:
        name = self.planned_fault(request_number)
        if name is None:
            return None
        chunks = random.Random(f"{self.seed}:{self.name}:{request_number}:chunks").randint(1, 3)
        return provider_fault(name, self.name.split(":", 1)[0], chunks)

    def faults_served(self, requests: int) -> Counter[str]:
        """How many of the first `requests` requests got each fault."""
        planned = (self.planned_fault(number) for number in range(requests))
        return Counter(name for name in planned if name is not None)


@dataclass(frozen=True)
class SlackFaults:
    """Slack's side: a steady per-second limit on posting and editing, and, drawn per round,
    bursts of 429s with Retry-After on the next few calls and lost replies."""

    update_limit: int | None = 25
    post_limit: int | None = 20
    burst_chance: float = 0.12
    lost_reply_chance: float = 0.05

    def apply_limits(self, slack: SlackEmulator) -> None:
        slack.set_rate_limit("chat.update", self.update_limit)
        slack.set_rate_limit("chat.postMessage", self.post_limit)

    def maybe_burst(self, slack: SlackEmulator, rng: random.Random) -> None:
        """Perhaps make the next few calls of one method answer 429 (Retry-After 1 or 2 s)."""
        if rng.random() >= self.burst_chance:
            return
        method = rng.choice(("chat.update", "chat.update", "chat.postMessage"))
        slack.inject(method, times=rng.randint(1, 4), retry_after=rng.randint(1, 2))

    def maybe_lose_a_reply(self, slack: SlackEmulator, rng: random.Random) -> None:
        """Perhaps drop the connection of the next post or edit before Slack's reply; the
        call itself is done or not, at random."""
        if rng.random() >= self.lost_reply_chance:
            return
        method = rng.choice(("chat.update", "chat.postMessage"))
        slack.lose_replies(method, carried_out=rng.random() < 0.5)


@dataclass(frozen=True)
class Delivery:
    """How Slack delivers one event: first to `first` (a replica index), then the retries
    Slack sends although the first was acknowledged (its ack looked slow), each after a delay
    and to a replica of its own (a load balancer picks one)."""

    first: int
    also_at_once: int | None  # another replica receiving the same event concurrently
    retries: tuple[tuple[float, int], ...]  # (seconds after the first, replica)


@dataclass(frozen=True)
class DeliveryPlan:
    retry_chance: float = 0.15
    both_chance: float = 0.2  # with several replicas: the event reaches two at once

    def draw(self, rng: random.Random, replicas: int) -> Delivery:
        first = rng.randrange(replicas)
        at_once = None
        if replicas > 1 and rng.random() < self.both_chance:
            at_once = (first + rng.randrange(1, replicas)) % replicas
        retries: list[tuple[float, int]] = []
        while len(retries) < 3 and rng.random() < self.retry_chance:
            retries.append((rng.uniform(0.0, 3.0), rng.randrange(replicas)))
        return Delivery(first, at_once, tuple(sorted(retries)))
