"""Service desk: one conversation per customer across every channel, replies through the channel's provider."""
