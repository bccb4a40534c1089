"""Paging (PagerDuty Events API v2): waking the people on call."""
