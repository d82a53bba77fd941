"""The pure chat core: who answers, and what each model is sent. Imports neither Slack nor httpx."""
