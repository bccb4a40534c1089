"""Incidents: declaration, the war room, roles, status updates, reminders, resolution."""
