"""GetMetricStatistics as AWS answers it: a metric is its namespace, name and exactly
its dimensions. moto matched every metric that had the asked dimensions among others,
so a query by FunctionName alone also summed the per-alias and per-version data points
Lambda publishes beside it, and a query without dimensions summed every function's."""

from __future__ import annotations

from datetime import datetime, timedelta

from moto.cloudwatch.exceptions import InvalidParameterValue
from moto.cloudwatch.models import CloudWatchBackend, Statistics

from workshop.cloud.services import extend


@extend(CloudWatchBackend)
class ExactStatistics:
    def get_metric_statistics(self, namespace: str, metric_name: str, start_time: datetime, end_time: datetime,
                              period: int, stats: list[str], dimensions: list[dict[str, str]],
                              unit: str | None = None) -> list[Statistics]:
        start_time, end_time = start_time.replace(microsecond=0), end_time.replace(microsecond=0)
        if start_time >= end_time:
            raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
        # Compared as sets, in any order, as AWS does (moto's Dimension.__lt__ compares a value with a
        # name, so sorted() lists of them differed by the order a caller named them in).
        wanted = {(d["Name"], d.get("Value")) for d in dimensions or []}
        data = sorted((md for md in self.get_all_metrics()
                       if md.namespace == namespace and md.name == metric_name
                       and start_time <= md.timestamp < end_time and (not unit or md.unit == unit)
                       and len(md.dimensions) == len(wanted)
                       and {(x.name, x.value) for x in md.dimensions} == wanted), key=lambda md: md.timestamp)
        found: list[Statistics] = []
        step = timedelta(seconds=period)
        at, idx = (data[0].timestamp if data else None), 0
        while data and idx < len(data):
            # Periods begin at the first data point, as moto's daterange did.
            bucket = Statistics(stats, at)
            while idx < len(data) and data[idx].timestamp < at + step:
                bucket.metric_data.append(data[idx])
                bucket.unit = data[idx].unit
                idx += 1
            if bucket.metric_data:
                found.append(bucket)
            at += step
        return found
