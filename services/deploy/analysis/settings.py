"""What a team configures for a metric analysis: the rules, the traffic floor, the limits.

See the package's docstring (services.deploy.analysis) for what each setting means.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.patterns import HttpUrlText

Comparison = Literal[">", ">=", "<", "<="]

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def number_text(value: float | None) -> str:
    """A value or threshold as messages show it (NaN, +Inf and no value included)."""
    if value is None:
        return "—"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.4g}"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricQuery(_Section):
    name: str = Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$", description="Shown in Slack and on errors."
    )
    query: str = Field(
        min_length=1,
        description="PromQL; {service} {canary} {stable} {namespace} {version} are filled in.",
    )
    fail_when: Comparison = Field(description="The comparison that makes a sample breach.")
    threshold: float = Field(allow_inf_nan=False)
    for_seconds: float = Field(
        default=0,
        ge=0,
        allow_inf_nan=False,
        description="How long a breach must last (consecutive samples) to count as a failure.",
    )

    @property
    def comparison(self) -> str:
        """``"> 0.05"``: when one sample breaches."""
        return f"{self.fail_when} {number_text(self.threshold)}"

    @property
    def condition(self) -> str:
        """``"> 0.05 for 120s"``: when this metric fails."""
        if self.for_seconds:
            return f"{self.comparison} for {self.for_seconds:g}s"
        return self.comparison

    def breaches(self, value: float) -> bool:
        return _COMPARE[self.fail_when](value, self.threshold)


class MinRequests(_Section):
    query: str = Field(min_length=1, description="PromQL giving the number of requests judged.")
    minimum: float = Field(gt=0, allow_inf_nan=False)


# The runbook's post-deployment rules. The error-rate numerator has `or vector(0)` so a
# service that never answered a 5xx reads 0, not "no data" (see the module docstring).
DEFAULT_POST_DEPLOY_RULES: tuple[MetricQuery, ...] = (
    MetricQuery(
        name="HighErrorRateAfterDeploy",
        query=(
            '(sum(rate(http_requests_total{status=~"5..",service="{service}"}[1m])) or vector(0))'
            ' / sum(rate(http_requests_total{service="{service}"}[1m]))'
        ),
        fail_when=">",
        threshold=0.05,
        for_seconds=120,
    ),
    MetricQuery(
        name="ResponseTimeRegression",
        query=(
            "histogram_quantile(0.95, sum(rate("
            'http_request_duration_seconds_bucket{service="{service}"}[1m])) by (le))'
        ),
        fail_when=">",
        threshold=2,
        for_seconds=180,
    ),
)


class AnalysisSettings(_Section):
    prometheus_url: HttpUrlText = Field(description="Base URL of Prometheus' API.")
    bearer_token_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable holding a bearer token for Prometheus.",
    )
    queries: list[MetricQuery] = Field(
        default_factory=lambda: list(DEFAULT_POST_DEPLOY_RULES), min_length=1
    )
    min_requests: MinRequests | None = None
    interval_seconds: float = Field(default=60, gt=0, allow_inf_nan=False)
    count: int = Field(default=5, ge=1, description="Samples in a complete analysis.")
    failure_limit: int = Field(
        default=2, ge=0, description="The analysis fails when failed samples > failure_limit."
    )
    inconclusive_limit: int = Field(
        default=1,
        ge=0,
        description="A human decides when inconclusive samples > inconclusive_limit.",
    )
    query_timeout_seconds: float = Field(default=10, gt=0, allow_inf_nan=False)

    @field_validator("queries")
    @classmethod
    def _unique_names(cls, queries: list[MetricQuery]) -> list[MetricQuery]:
        names = [query.name for query in queries]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"query names must be unique: {', '.join(duplicates)}")
        return queries
