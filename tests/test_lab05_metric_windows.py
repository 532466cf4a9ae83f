"""Lab 05 reads the load balancer's own counts (AWS/ApplicationELB) over windows of
time; the workshop cloud counts per minute of its clock, so a period lasts 60 s / time
scale of real time (0.5 s to 60 s; a minute on AWS). The windows follow that period:
counting the test listener's requests stops one whole period before production moved
(the period the shift falls in may hold production's first requests), and a window
"with the periods its ends fall in" reaches back and forward a whole period."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from checker.labs import lab05_containers as lab


class Recorder:
    """An account whose metric reads are recorded (and answer one data point)."""

    def __init__(self, scale: float):
        self.time_scale = scale
        self.asked: list[dict] = []

    def call(self, service, operation, /, **params):
        assert (service, operation) == ("cloudwatch", "get_metric_statistics")
        self.asked.append(params)
        return {"Datapoints": [{"Sum": 3.0}]}


@pytest.mark.parametrize("scale, period", [(1.0, 60.0), (6.0, 10.0), (60.0, 1.0), (600.0, 0.5), (6000.0, 0.5)])
def test_the_load_balancer_period_is_a_minute_of_the_workshop_clock(scale, period):
    assert lab._elb_period(Recorder(scale)) == period


@pytest.mark.parametrize("scale", [1.0, 6.0, 60.0])
def test_a_whole_window_takes_in_the_periods_its_ends_fall_in(scale):
    account = Recorder(scale)
    width = lab._elb_period(account)
    start = datetime(2026, 12, 6, 7, 0, 25, 400000, tzinfo=timezone.utc)
    end = start + timedelta(seconds=5)
    assert lab._metric_total(account, "RequestCount", {"LoadBalancer": "app/x/1"}, start, end) == 3.0
    asked = account.asked[-1]
    assert asked["StartTime"] <= start and start - asked["StartTime"] < timedelta(seconds=width)
    assert asked["StartTime"].timestamp() % width == 0          # the start of the period `start` falls in
    assert asked["EndTime"] == end + timedelta(seconds=width)
    lab._metric_total(account, "RequestCount", {"LoadBalancer": "app/x/1"}, start, end, whole=False)
    assert (account.asked[-1]["StartTime"], account.asked[-1]["EndTime"]) == (start, end)


class BlueGreenAccount(Recorder):
    """One Succeeded blue/green deployment by the learner: created at 07:00:00, AllowTestTraffic
    done at 07:00:10, AllowTraffic started at 07:02:40. The green target group's RequestCount data
    points are ``requests``: (period start, count), filtered by the query's window as CloudWatch does."""

    created = datetime(2026, 12, 6, 7, 0, 0, tzinfo=timezone.utc)
    tested = created + timedelta(seconds=10)
    shifted = created + timedelta(minutes=2, seconds=40)

    def __init__(self, scale: float, requests: list[tuple[datetime, float]]):
        super().__init__(scale)
        self.requests = requests

    def call(self, service, operation, /, **params):
        lb = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/workshop-05-bg/1"
        green = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/workshop-05-green/2"
        events = [{"lifecycleEventName": name, "status": "Succeeded"} for name in (
            "BeforeInstall", "Install", "AfterInstall", "BeforeAllowTraffic", "AfterAllowTraffic")]
        events += [{"lifecycleEventName": "AllowTestTraffic", "status": "Succeeded", "endTime": self.tested},
                   {"lifecycleEventName": "AllowTraffic", "status": "Succeeded", "startTime": self.shifted}]
        answers = {
            "get_application": {"application": {"applicationName": lab.CD_APP, "computePlatform": "ECS"}},
            "get_deployment_group": {"deploymentGroupInfo": {
                "deploymentGroupName": lab.CD_GROUP,
                "ecsServices": [{"clusterName": lab.CLUSTER, "serviceName": lab.BG_SERVICE}],
                "loadBalancerInfo": {"targetGroupPairInfoList": [{"testTrafficRoute": {"listenerArns": ["l"]}}]}}},
            "list_deployments": {"deployments": ["d-1"]},
            "batch_get_deployments": {"deploymentsInfo": [{"deploymentId": "d-1", "createTime": self.created,
                                                           "creator": "user"}]},
            "describe_load_balancers": {"LoadBalancers": [{"LoadBalancerArn": lb}]},
            "batch_get_deployment_targets": {"deploymentTargets": [{"ecsTarget": {
                "lifecycleEvents": events,
                "taskSetsInfo": [{"taskSetLabel": "Green", "targetGroup": {"name": lab.GREEN_GROUP}}]}}]},
            "describe_target_groups": {"TargetGroups": [{"TargetGroupArn": green}]},
            "describe_task_sets": {"taskSets": [{"status": "PRIMARY", "taskDefinition": None}]},
        }
        if operation != "get_metric_statistics":
            return answers[operation]
        self.asked.append(params)
        return {"Datapoints": [{"Timestamp": at, "Sum": count} for at, count in self.requests
                               if params["StartTime"] <= at < params["EndTime"]]}


def _test_listener(account) -> tuple[dict, object]:
    st = lab.Observed("111122223333", "us-east-1")
    lab._read_bluegreen(account, st)
    (deployment,) = st.bg["deployments"]
    return deployment, lab.bluegreen_test_listener(st)


@pytest.mark.parametrize("scale", [1.0, 6.0, 60.0, 600.0])
def test_test_listener_requests_are_counted_only_in_periods_that_ended_before_production_moved(scale):
    account = BlueGreenAccount(scale, [])
    width = lab._elb_period(account)
    # Tested in the period that ended just before the shift; production's first requests follow it.
    before = account.shifted - timedelta(seconds=width) - timedelta(seconds=account.shifted.timestamp() % width)
    account.requests = [(before, 4.0), (before + timedelta(seconds=width), 50.0)]
    deployment, finding = _test_listener(account)
    assert deployment["test_requests"] == 4.0
    asked = account.asked[-1]
    assert asked["Dimensions"] == [{"Name": "LoadBalancer", "Value": "app/workshop-05-bg/1"},
                                   {"Name": "TargetGroup", "Value": "targetgroup/workshop-05-green/2"}]
    assert asked["StartTime"] == account.created
    assert finding.passed, finding.message


@pytest.mark.parametrize("scale", [1.0, 6.0, 60.0, 600.0])
def test_production_requests_in_the_period_of_the_shift_are_no_test(scale):
    """A learner who never used the test listener: green's only requests are production's, from
    AllowTraffic on, counted in the period the shift fell in (stamped up to a period before it).
    Passing those off as testing is the fake evidence the check must not take (it did with a 1 s guard)."""
    account = BlueGreenAccount(scale, [])
    width = lab._elb_period(account)
    period = account.shifted - timedelta(seconds=account.shifted.timestamp() % width)
    account.requests = [(period, 50.0), (period + timedelta(seconds=width), 120.0)]
    deployment, finding = _test_listener(account)
    assert deployment["test_requests"] == 0.0
    assert not finding.passed and "through the test listener" in finding.message
