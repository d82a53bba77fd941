"""Fake model providers speaking each provider's real streaming wire format."""

from tests.doubles.model_servers.recording import RecordedRequest
from tests.doubles.model_servers.scripts import ModelFault, ModelScript
from tests.doubles.model_servers.server import (
    ANTHROPIC_API_KEY,
    GEMINI_API_KEY,
    OPENAI_API_KEY,
    OPENROUTER_API_KEY,
    FakeModelServer,
)

__all__ = [
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "OPENAI_API_KEY",
    "OPENROUTER_API_KEY",
    "FakeModelServer",
    "ModelFault",
    "ModelScript",
    "RecordedRequest",
]
