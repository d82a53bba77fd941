"""What people do in a fault run, and how Slack delivers it to the bot's replicas.

People mention the bot in many channels, write to it in DMs, start chats inside their own
threads, reply in the threads under answers (sometimes switching model) and chat without
addressing the bot; Slack delivers each message's events (the `message` + `app_mention` pair)
to a replica, sometimes to two at once, sometimes again as retries with X-Slack-Retry-Num, and
retries an event a replica did not acknowledge (it was down) as Slack does.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.fault_plan import Delivery, DeliveryPlan, SlackFaults
from bench.fault_tally import AnswerKey, ExpectedAnswer
from tests.doubles import BotProcess, SlackEmulator, SlackEventSender
from tests.e2e.slack_views import is_final

MENTION = "<@U0BOT>"
PEOPLE = ("U0ALICE", "U0BOB", "U0CAROL")
DIRECT_MESSAGES = {"D0ALICE": "U0ALICE", "D0BOB": "U0BOB"}
QUESTIONS = (
    "what is a good name for a bakery?",
    "how do I undo the last git commit?",
    "summarise the plot of Hamlet in one line",
    "is a hot dog a sandwich?",
    "why is the sky blue?",
    "write a haiku about retries",
)
# When a replica does not acknowledge (it is down, or too slow), Slack retries the event three
# times: at once, after a minute, after five minutes. Compressed here to 1 s, 10 s and 60 s.
UNACKNOWLEDGED_RETRY_DELAYS = (1.0, 10.0, 60.0)
ACK_TIMEOUT_SECONDS = 3.0  # Slack's own limit before it counts a delivery as failed


@dataclass
class Replicas:
    """The running bot processes; Slack (and the load balancer) can reach the live ones."""

    bots: list[BotProcess]

    def __len__(self) -> int:
        return len(self.bots)

    def url(self, index: int) -> str:
        return self.bots[index].events_url

    def live(self) -> list[int]:
        return [index for index, bot in enumerate(self.bots) if bot.is_running]

    def crash_and_restart(self, index: int, down_seconds: float) -> None:
        """SIGKILL one replica mid-work, leave it down a while, start it again (same id)."""
        self.bots[index].kill()
        time.sleep(down_seconds)
        self.bots[index].start()


@dataclass(frozen=True)
class Traffic:
    """How much of what people do, per step of the run."""

    rate: float = 3.0  # steps per second; each step is one round
    dm_chance: float = 0.12
    thread_chat_chance: float = 0.06  # a mention inside a person's own thread (SPEC 4.4)
    pick_chance: float = 0.12  # `+alias` words choosing some models for one round
    turn_chance: float = 0.45  # a reply in the thread under an earlier answer
    switch_chance: float = 0.1  # that reply hands the thread to another model
    chatter_chance: float = 0.1  # a message that does not address the bot
    echo_chance: float = 0.1  # Slack's `message` event for one of the bot's own answers


@dataclass
class DeliveryCounts:
    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, what: str) -> None:
        with self.lock:
            self.counts[what] += 1


class FaultDriver:
    """Plays the people and Slack's event delivery; remembers every answer it is owed."""

    def __init__(
        self,
        slack: SlackEmulator,
        sender: SlackEventSender,
        replicas: Replicas,
        *,
        seed: int,
        models: dict[str, str],  # alias → `provider:model-id`, in configured order
        channels: Sequence[str],
        traffic: Traffic,
        slack_faults: SlackFaults,
        deliveries: DeliveryPlan,
    ) -> None:
        self.slack = slack
        self.sender = sender
        self.replicas = replicas
        self.models = models
        self.channels = list(channels)
        self.traffic = traffic
        self.slack_faults = slack_faults
        self.delivery_plan = deliveries
        self.rng = random.Random(seed)
        self.seed = seed
        self.expected: list[ExpectedAnswer] = []
        self.tokens: dict[str, tuple[str, str]] = {}  # token → (channel, person's message ts)
        self.rounds_sent = 0
        self.turns_sent = 0
        self.delivered = DeliveryCounts()
        self._events_sent = 0
        self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="slack-delivery")

    # -- the run -------------------------------------------------------------------------------

    def run(self, rounds: int, *, crash_at: int | None = None, down_seconds: float = 3.0) -> None:
        """Send `rounds` rounds (and the thread turns, chatter and echoes drawn around them) at
        `traffic.rate` a second; crash and restart the last replica at round `crash_at`."""
        started = time.monotonic()
        crash: threading.Thread | None = None
        for step in range(rounds):
            time.sleep(max(0.0, started + step / self.traffic.rate - time.monotonic()))
            if step == crash_at:
                crash = threading.Thread(
                    target=self.replicas.crash_and_restart,
                    args=(len(self.replicas) - 1, down_seconds),
                    name="crash",
                )
                crash.start()
            self.slack_faults.maybe_burst(self.slack, self.rng)
            self.slack_faults.maybe_lose_a_reply(self.slack, self.rng)
            self._step()
        if crash is not None:
            crash.join()
        self._pool.shutdown(wait=True)

    def _step(self) -> None:
        traffic, rng = self.traffic, self.rng
        draw = rng.random()
        if draw < traffic.dm_chance:
            channel = rng.choice(sorted(DIRECT_MESSAGES))
            self._round(channel, DIRECT_MESSAGES[channel], mention=False)
        elif draw < traffic.dm_chance + traffic.thread_chat_chance:
            channel, person = rng.choice(self.channels), rng.choice(PEOPLE)
            opener = self._say(channel, person, "anyone around? thinking out loud here")
            self._round(channel, person, mention=True, thread_ts=opener["ts"])
        else:
            self._round(rng.choice(self.channels), rng.choice(PEOPLE), mention=True)
        if rng.random() < traffic.turn_chance:
            self._thread_turn()
        if rng.random() < traffic.chatter_chance:
            self._say(rng.choice(self.channels), rng.choice(PEOPLE), "lunch at noon, anyone?")
        if rng.random() < traffic.echo_chance:
            self._echo_an_answer()

    # -- what people do ------------------------------------------------------------------------

    def _round(
        self, channel: str, person: str, *, mention: bool, thread_ts: str | None = None
    ) -> None:
        self.rounds_sent += 1
        token = f"[r{self.rounds_sent:04d}]"
        chosen = list(self.models)
        words = []
        if self.rng.random() < self.traffic.pick_chance:
            chosen = self.rng.sample(chosen, self.rng.randint(1, len(chosen)))
            words = [f"+{alias}" for alias in chosen]
        text = " ".join([*([MENTION] if mention else []), *words, token, self._question()])
        message = self._say(channel, person, text, thread_ts)
        self.tokens[token] = (channel, message["ts"])
        # Picked models answer in configured order, whatever order they were picked in.
        for alias, model in self.models.items():
            if alias in chosen:
                key = AnswerKey(channel, message["ts"], model)
                self.expected.append(ExpectedAnswer(key, thread_ts, token))

    def _thread_turn(self) -> None:
        parent = self._a_final_answer()
        if parent is None:
            return
        channel, answer = parent
        self.turns_sent += 1
        token = f"[t{self.turns_sent:04d}]"
        words = [token, self._question()]
        if self.rng.random() < self.traffic.switch_chance:
            words.insert(0, f"+{self.rng.choice(list(self.models))}")
        person = DIRECT_MESSAGES.get(channel) or self.rng.choice(PEOPLE)
        message = self._say(channel, person, " ".join(words), answer["ts"])
        self.tokens[token] = (channel, message["ts"])
        key = AnswerKey(channel, message["ts"])
        self.expected.append(ExpectedAnswer(key, answer["ts"], token))

    def _echo_an_answer(self) -> None:
        """Slack also sends the bot the `message` events of its own posts: they must be ignored."""
        parent = self._a_final_answer()
        if parent is not None:
            channel, answer = parent
            self._deliver_events(channel, answer)

    def _a_final_answer(self) -> tuple[str, dict[str, Any]] | None:
        """A finalised answer at the top of a channel or DM, as a person would pick one."""
        channel = self.rng.choice([*self.channels, *DIRECT_MESSAGES])
        answers = [m for m in self.slack.bot_messages(channel) if is_final(m)]
        return (channel, self.rng.choice(answers)) if answers else None

    def _question(self) -> str:
        return self.rng.choice(QUESTIONS)

    def _say(
        self, channel: str, person: str, text: str, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """A person posts in Slack; Slack delivers the message's events."""
        message = self.slack.post_user_message(channel, person, text, thread_ts)
        self._deliver_events(channel, message)
        return message

    # -- how Slack delivers --------------------------------------------------------------------

    def _deliver_events(self, channel: str, message: dict[str, Any]) -> None:
        events = self.sender.events_for(channel, message)
        self.rng.shuffle(events)  # Slack sends `message` and `app_mention` in either order
        for event in events:
            envelope = self.sender.envelope(event)
            delivery = self.delivery_plan.draw(self.rng, len(self.replicas))
            self._events_sent += 1
            self._schedule(envelope, delivery, f"{self.seed}:delivery:{self._events_sent}")

    def _schedule(self, envelope: dict[str, Any], delivery: Delivery, seed: str) -> None:
        attempts: list[tuple[int, float, int | None]] = [(delivery.first, 0.0, None)]
        if delivery.also_at_once is not None:
            self.delivered.add("delivered to two replicas at once")
            attempts.append((delivery.also_at_once, 0.0, None))
        for number, (delay, replica) in enumerate(delivery.retries, start=1):
            self.delivered.add("retried although acknowledged")
            attempts.append((replica, delay, number))
        for index, (replica, delay, retry_num) in enumerate(attempts):
            rng = random.Random(f"{seed}:{index}")
            self._pool.submit(
                self._deliver_until_acknowledged, envelope, replica, delay, retry_num, rng
            )

    def _deliver_until_acknowledged(
        self,
        envelope: dict[str, Any],
        replica: int,
        delay: float,
        retry_num: int | None,
        rng: random.Random,
    ) -> None:
        time.sleep(delay)
        self.delivered.add("deliveries")
        reason = "http_timeout"
        for backoff in (*UNACKNOWLEDGED_RETRY_DELAYS, None):
            try:
                response = self.sender.deliver(
                    self.replicas.url(replica),
                    envelope,
                    retry_num=retry_num,
                    retry_reason=reason,
                    timeout=ACK_TIMEOUT_SECONDS,
                )
                if response.is_success:
                    return
                reason = "http_error"
                self.delivered.add(f"answered HTTP {response.status_code}")
            except httpx.TimeoutException:
                reason = "http_timeout"
                self.delivered.add("not acknowledged within 3 s")
            except httpx.TransportError:
                reason = "http_error"
                self.delivered.add("replica unreachable")
            if backoff is None:
                self.delivered.add("given up after Slack's retries")
                return
            time.sleep(backoff)
            retry_num = (retry_num or 0) + 1
            live = self.replicas.live()
            replica = rng.choice(live) if live else replica
            self.delivered.add(f"retried ({reason})")
