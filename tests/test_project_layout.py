"""The promises the layout makes: a pure chat core, a lint-clean tree, a valid app manifest."""

from __future__ import annotations

import ast
import importlib
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp

from bot.app import build_bot
from bot.chat.catalog import ModelCatalog, parse_model_list
from bot.settings import Settings
from bot.slack.scopes import BOT_SCOPES
from tests.doubles import SlackEmulator
from tests.doubles.app_manifest import (
    MANIFEST,
    app_manifest,
    manifest_bot_events,
    manifest_bot_scopes,
)
from tests.doubles.slack_emulator.scopes import CUSTOMIZE_SCOPE, METHOD_SCOPES

ROOT = Path(__file__).resolve().parent.parent
CHAT_CORE = ROOT / "bot" / "chat"
FORBIDDEN_IN_CORE = ("slack_bolt", "slack_sdk", "httpx", "httpx_sse", "aiohttp", "sqlalchemy")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("module", sorted(CHAT_CORE.glob("*.py")), ids=lambda p: p.name)
def test_the_chat_core_imports_neither_slack_nor_http_nor_storage(module: Path):
    for imported in imported_modules(module):
        root = imported.split(".")[0]
        assert root not in FORBIDDEN_IN_CORE, f"{module.name} imports {imported}"
        assert not imported.startswith(("bot.slack", "bot.providers", "storage")), imported


STORAGE_MODULES = sorted((ROOT / "storage").rglob("*.py"))


@pytest.mark.parametrize("module", STORAGE_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_storage_knows_the_chat_core_only_of_the_bot(module: Path):
    """Storage records what the core decides; it never reaches Slack, providers or wiring."""
    for imported in imported_modules(module):
        if imported.split(".")[0] == "bot":
            assert imported.startswith("bot.chat."), f"{module.name} imports {imported}"


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it comes with the test extra)")
    result = subprocess.run(
        [ruff, "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    formatted = subprocess.run(
        [ruff, "format", "--check", "--no-cache", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_mypy_finds_nothing(tmp_path):
    pytest.importorskip("mypy", reason="mypy is not installed (it comes with the test extra)")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path)],  # `packages` in pyproject
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_manifest_is_a_complete_slack_app_manifest():
    manifest = app_manifest()
    info = manifest["display_information"]
    assert 1 <= len(info["name"]) <= 35
    assert len(info["description"]) <= 140
    assert 175 <= len(info["long_description"]) <= 4000
    assert manifest["features"]["bot_user"]["display_name"]
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    needs: dict[str, str | None] = {
        "app_home_opened": None,  # needs no scope
        "app_mention": "app_mentions:read",
        "message.channels": "channels:history",
        "message.groups": "groups:history",
        "message.im": "im:history",
        "message.mpim": "mpim:history",
        "reaction_added": "reactions:read",
        "reaction_removed": "reactions:read",
    }
    assert events == set(needs)
    assert {needs[event] for event in events} - {None} <= scopes
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert {"chat:write", "chat:write.customize", "users:read", "commands"} <= scopes
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/chorus" and len(command["description"]) <= 100
    hinted = set(re.findall(r"(?:^|· )(\w+)", command["usage_hint"]))
    assert hinted == {"models", "prompt", "new", "help"}, "every /chorus verb, and no other"
    assert manifest["settings"]["socket_mode_enabled"] is True


# client.chat_postMessage(…), or the method handed on: client.users_info, …
WEB_API_CALL = re.compile(r"\bclient\.([a-z]+_[A-Za-z_]+)[(,]")
# What the bot asks conversations.info: the name of a channel a message links to, never a DM's.
NOT_ASKED_OF_DMS = {"im:read", "mpim:read"}


def slack_method(sdk_method: str) -> str:
    """Slack's name of a method from slack_sdk's: chat_postMessage is chat.postMessage."""
    return sdk_method.replace("_", ".")


def test_the_manifest_asks_for_every_scope_the_bot_uses_and_no_other():
    """An admin installing the app grants exactly what the bot calls for: a method added
    without its scope, or a scope the bot no longer uses, fails here."""
    called = {
        method
        for path in (ROOT / "bot").rglob("*.py")
        for method in WEB_API_CALL.findall(path.read_text(encoding="utf-8"))
    }
    unknown = {method for method in called if slack_method(method) not in METHOD_SCOPES}
    assert not unknown, "a Web API method the bot calls is not in the emulator's METHOD_SCOPES"
    manifest = app_manifest()
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    event_scopes = {"app_mention": {"app_mentions:read"}, "reaction_added": {"reactions:read"}}
    needed = set().union(
        *(METHOD_SCOPES[slack_method(method)] for method in called),
        {CUSTOMIZE_SCOPE},  # each model's messages are signed with its name and icon
        *(event_scopes.get(event, set()) for event in events),
        {"commands"} if manifest["features"]["slash_commands"] else set(),
    )
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == needed - NOT_ASKED_OF_DMS


def test_every_scope_the_manifest_asks_for_says_what_it_is_for():
    """The README tells an admin each scope is explained in manifest.yml: a scope added there
    without its comment would be granted unexplained."""
    text = MANIFEST.read_text(encoding="utf-8")
    explained = set(re.findall(r"^ +- (\S+) +# *\S", text, flags=re.M))
    assert set(manifest_bot_scopes()) <= explained, "a scope without its comment"


def test_the_scopes_start_up_checks_for_are_the_manifests():
    """The bot warns of a token granted fewer scopes than manifest.yml asks for; it keeps the
    list itself, as the manifest is not installed with the package."""
    assert manifest_bot_scopes() == BOT_SCOPES


# A `message` listener hears messages in channels, private channels, DMs and group DMs: each
# kind of conversation is a subscription of its own, delivering `message` events.
MESSAGE_SUBSCRIPTIONS = {"message.channels", "message.groups", "message.im", "message.mpim"}


async def test_the_manifest_subscribes_to_exactly_the_events_the_bot_listens_for(
    tmp_path, monkeypatch
):
    """An event the bot listens for that the manifest leaves out never comes; one it
    subscribes to that no listener takes is only acknowledged. Read off the bot as `build_bot`
    assembles it, each listener recorded as it is registered with Bolt's `event` or `message`."""
    listened: set[str] = set()
    register_event, register_message = AsyncApp.event, AsyncApp.message

    def event(app: AsyncApp, event: Any, *args: Any, **kwargs: Any) -> Any:
        # A pattern names no event: the catch-all that acknowledges what an admin subscribed
        # the app to beyond the manifest.
        if not isinstance(event, re.Pattern):
            listened.add(event if isinstance(event, str) else event["type"])
        return register_event(app, event, *args, **kwargs)

    def message(app: AsyncApp, *args: Any, **kwargs: Any) -> Any:
        listened.add("message")
        return register_message(app, *args, **kwargs)

    monkeypatch.setattr(AsyncApp, "event", event)
    monkeypatch.setattr(AsyncApp, "message", message)
    with SlackEmulator() as slack:
        settings = Settings(
            _env_file=None,
            slack_bot_token=slack.bot_token,
            slack_signing_secret="test",
            slack_api_url=slack.api_url,
            database_url=f"sqlite+aiosqlite:///{tmp_path}/chorus.db",
            anthropic_api_key="sk-ant-test",
        )
        catalog = ModelCatalog(parse_model_list("anthropic:claude-sonnet-4-5"))
        await (await build_bot(settings, catalog)).close()
    subscribed = {
        subscription
        for event in listened
        for subscription in (MESSAGE_SUBSCRIPTIONS if event == "message" else {event})
    }
    assert subscribed == manifest_bot_events()


# A fenced block, in a list item too (indented): its kind (`sh`) and its text.
README_FENCE = re.compile(r"^ *```(\w*)\n(.*?)\n *```$", flags=re.M | re.S)


def readme_shell_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return [text for kind, text in README_FENCE.findall(readme) if kind == "sh"]


def test_ci_runs_the_readme_test_command_verbatim():
    (test_command,) = [block for block in readme_shell_blocks() if "pytest" in block]
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()

    assert ci_lines[-1] == test_command


def readme_bench_commands() -> list[tuple[str, list[str]]]:
    """Each `python -m bench.…` the README gives, in a block or inline (an inline one may be
    wrapped over two lines), as its module and arguments, a trailing comment left out."""
    prose = README_FENCE.sub("", (ROOT / "README.md").read_text(encoding="utf-8"))
    lines = [line for block in readme_shell_blocks() for line in block.splitlines()]
    lines += [span.replace("\n", " ") for span in re.findall(r"`([^`]+)`", prose)]
    commands = []
    for line in lines:
        found = re.search(r"python -m (bench\.\w+)(.*)", line.split(" #")[0])
        if found:
            commands.append((found[1], shlex.split(found[2])))
    return commands


def test_every_bench_command_the_readme_gives_is_one_its_module_takes():
    """A flag renamed or dropped in bench/ fails here rather than for whoever repeats a run."""
    commands = readme_bench_commands()
    assert {module for module, _ in commands} == {
        "bench.fault_run",
        "bench.run",
        "bench.profile",
        "bench.untrusted_text",
        "bench.memory_snapshots",
    }
    for module, arguments in commands:
        try:
            importlib.import_module(module).parse_arguments(arguments)
        except SystemExit:
            pytest.fail(f"python -m {module} {shlex.join(arguments)}: not arguments it takes")
