"""Everything the bot says outside Slack: the status page, paging, email.

How it fits together:

- A change to an incident (declared, updated, severity changed, resolved, published,
  paged) is recorded on the timeline first, then told to `Comms` as `IncidentNews`
  (`news.py`).
- Each configured integration has a *planner* that turns the news into zero or more
  `Outgoing` deliveries for its audiences (`planning.py`), keyed by the timeline event,
  so a replayed request or a resumed flow plans the same keys again and nothing is
  queued twice (`deliveries.py`, a durable queue in the store).
- The `Dispatcher` (`dispatcher.py`) delivers what is due through each integration's
  `Channel`, in order per incident, honouring rate limits (`RetryLater`), and records
  what was sent on the timeline. A status page that is down never blocks the war room:
  the news is queued and the flow goes on.

One package per integration (`statuspage/`, `pagerduty/`, `email/`), each with its
settings, its one client module and its error tree, its channel and its planner;
`registry.py` builds the configured ones.
"""
