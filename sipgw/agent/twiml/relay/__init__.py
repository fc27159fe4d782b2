"""``<Connect><ConversationRelay>``'s engine: the platform's part of a ConversationRelay
session, made from the verb and the settings, its voices and languages."""
