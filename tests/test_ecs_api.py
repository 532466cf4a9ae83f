"""ECS requests AWS accepts that moto answered with a 500: an awsvpc service or task
without security groups (the VPC's default group is used), and a Fargate task
definition whose container names no memory of its own."""

from __future__ import annotations


def _fargate(ecs, family: str = "web") -> None:
    ecs.register_task_definition(
        family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "web", "image": "127.0.0.1:4566/web:v1", "essential": True,
                               "portMappings": [{"containerPort": 8080}]}])


def test_awsvpc_without_security_groups_uses_the_vpc_default(cloud, account):
    ecs, ec2 = cloud.client("ecs", account), cloud.client("ec2", account)
    ecs.create_cluster(clusterName="apps")
    _fargate(ecs)
    subnet = ec2.describe_subnets()["Subnets"][0]
    default = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [subnet["VpcId"]]},
                                                    {"Name": "group-name", "Values": ["default"]}])
    group = default["SecurityGroups"][0]["GroupId"]
    network = {"awsvpcConfiguration": {"subnets": [subnet["SubnetId"]]}}
    service = ecs.create_service(cluster="apps", serviceName="web", taskDefinition="web", desiredCount=1,
                                 launchType="FARGATE", networkConfiguration=network)["service"]
    assert service["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"] == [group]
    task = ecs.run_task(cluster="apps", taskDefinition="web", launchType="FARGATE",
                        networkConfiguration=network)["tasks"][0]
    assert task["taskDefinitionArn"].endswith("task-definition/web:1")
    assert ecs.describe_tasks(cluster="apps", tasks=[task["taskArn"]])["tasks"][0]["taskArn"] == task["taskArn"]
