"""A consumer stack: the team's own VPC (built by hand), and a GKE inference cluster plus its bucket
from ai-clusters placed into it."""

import pulumi
import pulumi_gcp as gcp

from ai_clusters import ClusterStorage, GkeCluster

config = pulumi.Config()
environment = config.get("environment") or "staging"
region = gcp.config.region or "us-east4"
zone = f"{region}-a"

# -- the team's own network ---------------------------------------------------------------------------
vpc = gcp.compute.Network("vision-vpc", auto_create_subnetworks=False, routing_mode="REGIONAL", mtu=1460)
subnet = gcp.compute.Subnetwork(
    "vision-subnet",
    network=vpc.id,
    region=region,
    ip_cidr_range="10.20.0.0/20",
    private_ip_google_access=True,
    secondary_ip_ranges=[
        gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name="vision-pods", ip_cidr_range="10.24.0.0/14"),
        gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name="vision-services", ip_cidr_range="10.28.0.0/20"),
    ],
)
router = gcp.compute.Router("vision-router", network=vpc.id, region=region)
gcp.compute.RouterNat(
    "vision-nat",
    router=router.name,
    region=region,
    nat_ip_allocate_option="AUTO_ONLY",
    source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
)

# -- ai-clusters components in it ---------------------------------------------------------------------
storage = ClusterStorage(
    "vision-data",
    {
        "environment": environment,
        "cluster": "vision",
        "workload": "inference",
        "region": region,
        "zone": zone,
        "path": "gke",
        "network": vpc.self_link,
        "storage": {"bucket": {"soft_delete_days": 7, "nearline_after_days": 30}},
        "labels": {"team": "vision"},
    },
)

cluster = GkeCluster(
    "vision",
    {
        "environment": environment,
        "region": region,
        "zone": zone,
        "workload": {"kind": "inference", "accelerators": 4, "latency_ms": 100, "model_params_b": 7},  # 2 nodes x 2 L4 at most
        "machine_type": "g2-standard-24",
        "network": {
            "host_network": vpc.self_link,
            "host_subnetwork": subnet.self_link,
            "pods_range_name": subnet.secondary_ip_ranges[0].range_name,
            "services_range_name": subnet.secondary_ip_ranges[1].range_name,
        },
        "bucket": storage.bucket_name,
        "labels": {"team": "vision"},
        "gke": {"release_channel": "REGULAR", "autoscaling": {"min_nodes": 1, "max_nodes": 2}},
    },
)

pulumi.export("endpoint", cluster.endpoint)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("nodeSelector", cluster.node_selector)
pulumi.export("bucket", storage.bucket_name)
