"""NATS JetStream publisher: every domain event on subject `omnihub.<type>` for other systems and nodes."""
