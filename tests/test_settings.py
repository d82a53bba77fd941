"""The configuration contract (SPEC §5) as the bot reads it."""

from bot.settings import Settings


def test_keys_are_read_without_surrounding_space_and_a_blank_one_is_unset():
    settings = Settings(
        slack_bot_token=" xoxb-1\n",
        slack_signing_secret="s",
        openai_api_key="  ",
        anthropic_api_key="sk-ant-1\n",
    )
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-1"
    assert settings.provider_keys()["openai"] is None
    assert settings.provider_keys()["anthropic"] == "sk-ant-1"
