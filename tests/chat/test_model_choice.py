"""SPEC §2.3: choosing models with leading `+alias` words."""

import pytest

from bot.chat.catalog import (
    CatalogError,
    ModelCatalog,
    ModelSpec,
    display_name_for,
    parse_model_list,
)
from bot.chat.model_choice import (
    ModelPicks,
    ThreadHandover,
    UnknownModels,
    models_for_round,
    picks_without_question,
    resolve_picks,
    split_model_picks,
    thread_handed_to,
)

CATALOG = ModelCatalog(
    parse_model_list("anthropic:claude-sonnet-4-5,openai:gpt-5.1,google:gemini-2.5-pro")
)


def names(specs):
    return [spec.name for spec in specs]


def test_every_configured_model_answers_by_default_in_configured_order():
    picks = split_model_picks("how do I …")
    assert names(models_for_round(CATALOG, picks)) == [
        "anthropic:claude-sonnet-4-5",
        "openai:gpt-5.1",
        "google:gemini-2.5-pro",
    ]


def test_a_channel_list_answers_in_its_order_keeping_only_models_still_configured():
    picks = split_model_picks("how do I …")
    channel = ["google:gemini-2.5-pro", "openai:gpt-4o", "anthropic:claude-sonnet-4-5"]
    assert names(models_for_round(CATALOG, picks, channel)) == [
        "google:gemini-2.5-pro",
        "anthropic:claude-sonnet-4-5",
    ]
    gone = ["openai:gpt-4o"]
    assert models_for_round(CATALOG, picks, gone) == list(CATALOG)
    picked = split_model_picks("+gpt how do I …")
    assert names(models_for_round(CATALOG, picked, channel)) == ["openai:gpt-5.1"]


def test_a_model_picked_twice_answers_once():
    picks = split_model_picks("+claude +gpt +claude-sonnet-4-5 hi")
    assert names(models_for_round(CATALOG, picks)) == [
        "anthropic:claude-sonnet-4-5",
        "openai:gpt-5.1",
    ]


def test_leading_plus_aliases_pick_the_models_for_one_round():
    picks = split_model_picks("+gemini +claude how do I …")
    assert picks.text == "how do I …"
    assert names(models_for_round(CATALOG, picks)) == [
        "google:gemini-2.5-pro",
        "anthropic:claude-sonnet-4-5",
    ]


def test_a_plus_word_inside_the_text_is_just_text():
    picks = split_model_picks("is c +gpt a thing?")
    assert picks.words == ()
    assert picks.text == "is c +gpt a thing?"


def test_unknown_aliases_get_an_error_listing_the_valid_ones():
    with pytest.raises(UnknownModels) as raised:
        models_for_round(CATALOG, split_model_picks("+claud +gpt hi"))
    assert str(raised.value) == (
        "I don't know `+claud`. Models you can pick: `+claude`, `+gpt`, `+gemini`."
    )
    assert raised.value.in_a_message() == (
        "I don't know `+claud`. Models you can pick: `+claude`, `+gpt`, `+gemini`. Nothing "
        "was asked: send your message again with models from that list (an edit asks nothing)."
    )


def test_picks_without_a_question_are_told_where_the_question_goes_by_their_aliases():
    chosen = resolve_picks(CATALOG, ["Claude", "openai:gpt-5.1"])
    assert picks_without_question(CATALOG, chosen) == (
        "Ask your question after `+claude +gpt` in a new message (an edit asks nothing). To "
        "have only these models answer here from now on: `/chorus models claude gpt`."
    )
    assert "only this model answer" in picks_without_question(CATALOG, [CATALOG.find("gemini")])


def test_the_first_leading_alias_in_a_thread_takes_the_thread_over():
    to_gpt = thread_handed_to(CATALOG, split_model_picks("+gpt your turn"))
    assert to_gpt == ThreadHandover(CATALOG.get("openai:gpt-5.1"))
    assert to_gpt.note() == "From now on *GPT-5.1* answers in this thread."
    assert to_gpt.note(had="anthropic:claude-sonnet-4-5") == to_gpt.note()
    assert to_gpt.note(had="openai:gpt-5.1") == "*GPT-5.1* answers in this thread already."
    assert thread_handed_to(CATALOG, split_model_picks("+claude +gemini")) == ThreadHandover(
        CATALOG.get("anthropic:claude-sonnet-4-5"), (CATALOG.get("google:gemini-2.5-pro"),)
    )
    assert thread_handed_to(CATALOG, split_model_picks("+gpt +GPT again")) == to_gpt
    assert thread_handed_to(CATALOG, split_model_picks("more, please")) is None
    with pytest.raises(UnknownModels):
        thread_handed_to(CATALOG, split_model_picks("+grok"))


def test_several_aliases_in_a_thread_are_told_a_thread_goes_on_with_one_model():
    handover = thread_handed_to(CATALOG, split_model_picks("+claude +gpt +gemini both?"))
    assert handover is not None
    assert handover.note() == (
        "A thread goes on with one model: from now on *Claude Sonnet 4.5* answers in this "
        "thread, not *GPT-5.1* or *Gemini 2.5 Pro*. To ask several models at once, ask me "
        "outside this thread."
    )
    assert handover.note(had="anthropic:claude-sonnet-4-5") == (
        "A thread goes on with one model: *Claude Sonnet 4.5* answers in this thread already, "
        "not *GPT-5.1* or *Gemini 2.5 Pro*. To ask several models at once, ask me outside "
        "this thread."
    )


def test_models_are_found_by_alias_model_id_or_full_name():
    for word in ("claude", "claude-sonnet-4-5", "anthropic:claude-sonnet-4-5", "CLAUDE"):
        assert CATALOG.find(word) == ModelSpec(
            "anthropic", "claude-sonnet-4-5", "Claude Sonnet 4.5"
        )


def test_models_of_one_family_get_distinct_aliases():
    catalog = ModelCatalog(
        parse_model_list("anthropic:claude-sonnet-4-5,anthropic:claude-opus-4-1")
    )
    assert list(catalog.aliases) == ["claude-sonnet-4-5", "claude-opus-4-1"]


def test_display_names_read_like_product_names():
    assert display_name_for("claude-sonnet-4-5") == "Claude Sonnet 4.5"
    assert display_name_for("gpt-5.1") == "GPT-5.1"
    assert display_name_for("gemini-2.5-pro") == "Gemini 2.5 Pro"
    assert display_name_for("meta-llama/llama-4-maverick") == "Llama 4 Maverick"
    assert display_name_for("claude-opus-4-1-20250805") == "Claude Opus 4.1"
    assert display_name_for("qwen3-coder:30b") == "Qwen3 Coder"
    assert display_name_for("o1-2024-12-17") == "o1"
    assert display_name_for("o4-mini") == "o4-mini"
    assert display_name_for("gpt-4o-2024-08-06") == "GPT-4o"
    assert display_name_for("gemini-2.5-flash-preview-05-20") == "Gemini 2.5 Flash Preview 05-20"


@pytest.mark.parametrize(
    ("models", "shown_as"),
    [
        (
            "ollama:qwen2.5-coder:7b,ollama:qwen2.5-coder:32b",
            ["Qwen2.5 Coder (7b)", "Qwen2.5 Coder (32b)"],
        ),
        ("openai:gpt-5.1,openrouter:openai/gpt-5.1", ["GPT-5.1 (OpenAI)", "GPT-5.1 (OpenRouter)"]),
        (
            "openrouter:meta-llama/llama-3.3-70b-instruct,"
            "openrouter:meta-llama/llama-3.3-70b-instruct:free",
            ["Llama 3.3 70b Instruct", "Llama 3.3 70b Instruct (free)"],
        ),
    ],
)
def test_models_that_would_share_a_name_are_told_apart(models, shown_as):
    catalog = ModelCatalog(parse_model_list(models))
    assert [spec.display_name for spec in catalog] == shown_as


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("mistral:large", "unknown provider 'mistral'"),
        ("gpt-5.1", "must look like provider:model-id"),
        ("openai:", "must look like provider:model-id"),
        ("openai:gpt-5.1,openai:gpt-5.1", "model listed twice"),
        ("openai:gpt-5.1,openai:GPT-5.1", "model listed twice"),
    ],
)
def test_bad_model_lists_are_refused_with_a_clear_reason(value, message):
    with pytest.raises(CatalogError, match=message) as refused:
        parse_model_list(value)
    assert "CHORUS_MODELS" in str(refused.value)


@pytest.mark.parametrize(
    "value",
    [
        "sk-ant-api03-4hTq9wXbVz2LpQ8rYk3mN7cD1fG5jH0sA6eR",
        "x:sk-proj-4hTq9wXbVz2LpQ8rYk3mN7cD1fG5jH0sA6eR",
    ],
)
def test_a_key_pasted_into_the_model_list_is_not_printed(value):
    with pytest.raises(CatalogError) as refused:
        parse_model_list(value)
    assert "4hTq9wXbVz2LpQ8rYk3mN7cD1fG5jH0sA6eR" not in str(refused.value)
    assert "CHORUS_MODELS" in str(refused.value)


def test_model_lists_allow_spaces_a_trailing_comma_and_provider_nicknames():
    specs = parse_model_list(" claude:claude-opus-4-1 , gemini:gemini-2.5-pro,")
    assert names(specs) == ["anthropic:claude-opus-4-1", "google:gemini-2.5-pro"]


def test_a_stored_model_no_longer_configured_still_resolves():
    assert CATALOG.get("openai:gpt-4o") == ModelSpec("openai", "gpt-4o", "GPT-4o")
    assert CATALOG.find("openai:gpt-4o") is None


def test_a_plus_one_is_text_not_a_model_pick():
    assert split_model_picks("+1 nice, +2 from me") == ModelPicks((), "+1 nice, +2 from me")
    assert split_model_picks("+gpt4o +1") == ModelPicks(("gpt4o",), "+1")


@pytest.mark.parametrize(
    ("message", "words", "text"),
    [
        ("+claude, +gpt hi", ("claude", "gpt"), "hi"),
        ("+claude: what now?", ("claude",), "what now?"),
        ("+claude,+gemini. why?", ("claude", "gemini"), "why?"),
        ("+openai:gpt-5.1 hi", ("openai:gpt-5.1",), "hi"),
        ("+gpt-5.1.", ("gpt-5.1",), ""),
        ("+claude's idea is fine", (), "+claude's idea is fine"),
    ],
)
def test_punctuation_after_a_pick_belongs_to_the_sentence(message, words, text):
    picks = split_model_picks(message)
    assert (picks.words, picks.text) == (words, text)
    resolved = models_for_round(CATALOG, picks) if words else []
    assert len(resolved) == len(words)


@pytest.mark.parametrize(
    "message",
    [
        "+a" + "." * 40_000 + "x",  # a long run of dots after a leading `+word`
        "+" + "a" * 20_000 + ":" * 20_000 + "x",
    ],
)
def test_a_long_run_of_punctuation_after_a_plus_word_is_one_word(message):
    # Slack's longest message (`python -m bench.untrusted_text` holds the time this takes).
    picks = split_model_picks(message)
    assert picks == ModelPicks((message[1:],), "")


def test_the_same_model_through_two_providers_gets_two_aliases():
    catalog = ModelCatalog(parse_model_list("openai:gpt-5.1,openrouter:openai/gpt-5.1"))
    assert list(catalog.aliases) == ["gpt-5.1", "openrouter:openai/gpt-5.1"]
    assert [catalog.alias_of(spec) for spec in catalog] == list(catalog.aliases)
    assert catalog.find("openrouter:openai/gpt-5.1") == catalog.models[1]


def test_every_alias_picks_the_model_it_is_listed_for():
    catalog = ModelCatalog(parse_model_list("openrouter:qwen/qwen3-coder,ollama:qwen3-coder"))
    assert list(catalog.aliases) == ["openrouter:qwen/qwen3-coder", "qwen3-coder"]
    for alias, spec in catalog.aliases.items():
        assert catalog.find(alias) == spec


def test_unknown_words_are_quoted_back_inert_once_each_and_only_a_few():
    with pytest.raises(UnknownModels) as raised:  # e.g. `/chorus models zz zz … a<!here>`x`
        resolve_picks(CATALOG, ["zz"] * 9000 + ["a<!here>`x"])
    said = str(raised.value)
    assert said.startswith("I don't know `+zz`, `+a&lt;!here&gt;\u02cbx`. Models you can pick")
    assert "<!" not in said
    assert said.count("`") == 10  # two unknown words, three valid ones

    words = " ".join(f"+w{n}" for n in range(12))
    with pytest.raises(UnknownModels) as raised:
        models_for_round(CATALOG, split_model_picks(words + " hi"))
    assert "`+w4` and 7 more. Models" in str(raised.value)


def test_five_unknown_words_are_all_named_with_nothing_more():
    with pytest.raises(UnknownModels) as raised:
        resolve_picks(CATALOG, [f"w{n}" for n in range(5)])
    assert "`+w4`. Models" in str(raised.value)
