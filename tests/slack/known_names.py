"""The names a message's text is read with, where Slack is not needed: the ids given here."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class KnownNames:
    """People's and channels' names by id (an unknown id reads as itself), and every id asked."""

    people: dict[str, str] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    async def user_name(self, user_id: str) -> str:
        self.asked.append(user_id)
        return self.people.get(user_id, user_id)

    async def channel_name(self, channel_id: str) -> str:
        self.asked.append(channel_id)
        return self.channels.get(channel_id, channel_id)
