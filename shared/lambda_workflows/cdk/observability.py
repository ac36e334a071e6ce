"""Alarms and the dashboard of a deployed app: what an operator watches."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lambda_workflows.metrics import (
    ServerErrors,
    StepFailures,
    StepRetries,
    StepsCompleted,
    Suspensions,
    WakeupLagMs,
)

PERIOD = Duration.minutes(5)


def alarms(
    scope: Construct,
    worker: lambda_.Function,
    api: lambda_.Function,
    dead_letters: sqs.Queue,
    topic: sns.ITopic | None,
) -> list[cloudwatch.Alarm]:
    """A wake-up in the DLQ, worker errors or throttles, API errors: each one alarms
    (and notifies `topic` when given)."""
    watched = {
        "DeadLetters": dead_letters.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic="Maximum"
        ),
        "WorkerErrors": worker.metric_errors(period=PERIOD),
        "WorkerThrottles": worker.metric_throttles(period=PERIOD),
        "ApiErrors": api.metric_errors(period=PERIOD),
    }
    made = []
    for name, metric in watched.items():
        alarm = metric.create_alarm(
            scope,
            f"{name}Alarm",
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        if topic is not None:
            alarm.add_alarm_action(actions.SnsAction(topic))
        made.append(alarm)
    return made


def _engine_metric(namespace: str, name: str, statistic: str) -> cloudwatch.MathExpression:
    """`name` summed over every workflow (the EMF metrics carry `service` and `workflow`)."""
    search = f"SEARCH('{{{namespace},service,workflow}} MetricName=\"{name}\"', '{statistic}', 300)"
    return cloudwatch.MathExpression(
        expression=f"SUM({search})" if statistic == "Sum" else f"MAX({search})",
        label=name,
        period=PERIOD,
        using_metrics={},
    )


def dashboard(
    scope: Construct,
    name: str,
    namespace: str,
    worker: lambda_.Function,
    queue: sqs.Queue,
    dead_letters: sqs.Queue,
) -> cloudwatch.Dashboard:
    """Steps, retries and failures; suspensions and wake-up lag; the worker and queues."""
    board = cloudwatch.Dashboard(scope, "Dashboard", dashboard_name=name)
    board.add_widgets(
        cloudwatch.GraphWidget(
            title="Steps",
            left=[
                _engine_metric(namespace, StepsCompleted, "Sum"),
                _engine_metric(namespace, StepRetries, "Sum"),
                _engine_metric(namespace, StepFailures, "Sum"),
            ],
        ),
        cloudwatch.GraphWidget(
            title="Suspensions and wake-up lag (ms, max)",
            left=[_engine_metric(namespace, Suspensions, "Sum")],
            right=[_engine_metric(namespace, WakeupLagMs, "Maximum")],
        ),
    )
    board.add_widgets(
        cloudwatch.GraphWidget(
            title="Worker",
            left=[worker.metric_invocations(), worker.metric_errors(), worker.metric_throttles()],
            right=[worker.metric_duration()],
        ),
        cloudwatch.GraphWidget(
            title="Queues",
            left=[
                queue.metric_approximate_number_of_messages_visible(),
                dead_letters.metric_approximate_number_of_messages_visible(),
            ],
        ),
        cloudwatch.GraphWidget(
            title="API 5xx",
            left=[_engine_metric(namespace, ServerErrors, "Sum")],
        ),
    )
    return board
