"""Metric analysis of a canary or of a fresh deployment.

* `settings` - what a team configures (AnalysisSettings, MetricQuery, MinRequests).
* `rules` - one query's result judged against its rule (judge, Judgement, Measurement).
* `run` - an analysis taking samples and deciding (Analysis, run_analysis), its queries
  rendered for this deployment (QueryContext, render_query).
* `prometheus` - the only Prometheus client.

Modelled on Argo Rollouts' AnalysisTemplate (a condition per metric,
``failureLimit``, ``inconclusiveLimit``, inconclusive -> pause for a human)
and Flagger's metric checks (a threshold, "no data" is not a pass). The only
I/O goes through a :class:`Querier` (in production the
:class:`~services.deploy.analysis.prometheus.PrometheusClient`), so tests can feed values.

Semantics, precisely
--------------------

A *sample* evaluates every :class:`MetricQuery` once, at one instant.

Each query's result becomes a :class:`Measurement` with outcome ``pass``,
``fail`` or ``inconclusive``:

* **Breach**: the value compared with ``fail_when``/``threshold`` holds, e.g.
  ``0.2 > 0.05`` for an error-rate rule.
* **Empty vector** -> inconclusive ("no data"): nothing to judge is not a pass.
* **NaN** -> inconclusive: typically ``0/0`` (a ratio with no traffic) or
  ``histogram_quantile`` over empty buckets.
* **+Inf / -Inf** are compared as numbers: +Inf exceeds every threshold (it
  breaches ``>``/``>=`` rules and satisfies ``<``/``<=`` rules), -Inf is below
  every threshold. ``histogram_quantile`` yields +Inf when the quantile falls
  in the ``+Inf`` bucket, i.e. slower than the slowest finite bucket: a real
  breach of a latency rule; a ratio ``x/0`` with ``x > 0`` is +Inf and breaches
  an error-ratio rule.
* **Several series** -> each is judged; the worst wins (fail, then
  inconclusive, then pass); among equals the one furthest on the failing side
  of the threshold is reported, with its labels. Aggregate (``sum(...)``) if
  one idle pod's NaN should not make the whole sample inconclusive.
* **Prometheus unreachable / timed out / 5xx / refused credentials** ->
  inconclusive with the reason (after the first unavailable answer in a sample
  the remaining queries of that sample are not sent, so a dead server costs
  one timeout per sample, not one per query).
* **Broken PromQL** (HTTP 400/422 from Prometheus) -> :class:`AnalysisConfigError`
  naming the query: a person must fix the configuration; nothing is counted.

``for_seconds`` (like an alerting rule's ``for:``): a breach counts as a
*failure* only once the metric has breached in consecutive samples whose
times span at least ``for_seconds`` (first breaching sample to the current
one). Before that the measurement is ``pass`` with ``pending=True`` and a
reason saying how long it has held. A pass or an inconclusive sample ends
the streak. With ``for_seconds=0`` (default) every breaching sample fails.
With ``interval_seconds=60`` and ``for_seconds=120`` the third consecutive
breaching sample is the first failure; after that, each further breaching
sample fails too (as an alert stays firing).

``min_requests``: a request count queried first in every sample. When it is
below ``minimum`` -- or is empty, NaN or could not be read -- every
measurement of that sample is inconclusive ("too little traffic"; their values
are still reported), and breach streaks end.

A sample's outcome is the worst of its measurements. The analysis counts
failed and inconclusive samples (not measurements) and decides:

* ``failed`` as soon as ``failures > failure_limit`` (Argo's ``failureLimit``:
  with the default 2 the third failed sample aborts);
* else ``inconclusive`` as soon as ``inconclusive > inconclusive_limit``
  (default 1: the second inconclusive sample pauses for a human);
* else ``running`` until ``count`` samples were taken -- and while any metric is
  *pending* (a breach younger than its ``for_seconds``): the analysis never
  passes on a breach it has not finished judging, it takes more samples (at
  most about ``for_seconds / interval_seconds`` more) until the breach clears
  or becomes a failure;
* else ``passed``.

Query templates
---------------

``{service}``, ``{canary}``, ``{stable}``, ``{namespace}`` and ``{version}``
are replaced by plain string replacement (PromQL's own braces are left
alone); any other ``{...}`` is left as written. A placeholder without a
value for this analysis, or a value with characters that could break out of
a PromQL string (quotes, backslashes, braces, whitespace), is a configuration
error.

Canary examples (documentation; versions are label values of the pods)::

    queries:
      - name: canary-error-rate          # fails when > 1 % of requests are 5xx
        query: >-
          (sum(rate(http_requests_total{service="{service}",version="{canary}",status=~"5.."}[1m]))
            or vector(0))
          / sum(rate(http_requests_total{service="{service}",version="{canary}"}[1m]))
        fail_when: ">"
        threshold: 0.01
      - name: canary-p95-latency         # fails when p95 > 2 s
        query: >-
          histogram_quantile(0.95, sum(rate(
            http_request_duration_seconds_bucket{service="{service}",version="{canary}"}[1m]
          )) by (le))
        fail_when: ">"
        threshold: 2
    min_requests:
      query: sum(increase(http_requests_total{service="{service}",version="{canary}"}[1m]))
      minimum: 50

Why ``or vector(0)`` on the error numerator: a healthy service -- above all a
fresh canary -- has usually never answered a 5xx, so the 5xx series does not
exist and the ratio would be an empty vector, i.e. "no data" on every sample.
With ``or vector(0)`` it is 0 whenever there is traffic and still empty or NaN
when there is none.
"""
