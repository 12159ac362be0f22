"""HTTP routes: events, documents, the log, admin."""
