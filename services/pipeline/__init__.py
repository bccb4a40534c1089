"""The pipeline around a deployment that people run by hand: `validate` (a named suite and
the built-in checks against an environment, stored for the promotion gate) and `verify`
(what runs now, checked against endpoints and metric rules for a while)."""
