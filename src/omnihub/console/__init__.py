"""The console: the browser pages a shop's people use (server-rendered Jinja2 + htmx), with its own users and
sessions. It reads and writes through the other rooms' services and queries, never their tables."""
