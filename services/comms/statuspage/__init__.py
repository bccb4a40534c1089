"""The status page (Atlassian Statuspage API v1): customers' view of an incident."""
