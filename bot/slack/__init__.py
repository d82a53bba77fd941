"""The Slack edge: events in, messages out. Everything that knows Slack's shapes lives here."""
