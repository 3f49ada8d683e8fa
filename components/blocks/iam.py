"""Least-privilege service accounts for accelerator nodes."""

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_gcp as gcp

from ai_clusters.core.naming import service_account_id

# What a node needs to run: write logs and metrics, pull images. Data access is granted per bucket.
NODE_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/artifactregistry.reader",
)
BUCKET_ROLE = "roles/storage.objectUser"  # read and write objects of the cluster's own bucket only


@dataclass
class NodeIdentity:
    account: gcp.serviceaccount.Account
    email: pulumi.Output[str]
    member: pulumi.Output[str]


def node_service_account(
    name: str,
    *,
    display: str,
    project: pulumi.Input[str],
    parent: pulumi.Resource,
    roles: Sequence[str] = NODE_ROLES,
    buckets: Sequence[pulumi.Input[str]] = (),
    account_id: Optional[str] = None,
) -> NodeIdentity:
    """A dedicated service account with `roles` on the project and object access to `buckets`.

    `account_id` defaults to NAME-nodes, kept within IAM's 6-30 characters.
    """
    opts = pulumi.ResourceOptions(parent=parent)
    account = gcp.serviceaccount.Account(
        f"{name}-sa",
        account_id=service_account_id(account_id or f"{name}-nodes"),
        display_name=display,
        project=project,
        opts=opts,
    )
    member = account.email.apply(lambda e: f"serviceAccount:{e}")
    for role in roles:
        gcp.projects.IAMMember(
            f"{name}-{role.split('/')[-1].replace('.', '-')}",
            project=project,
            role=role,
            member=member,
            opts=opts,
        )
    for i, bucket in enumerate(buckets):
        gcp.storage.BucketIAMMember(f"{name}-bucket-{i}", bucket=bucket, role=BUCKET_ROLE, member=member, opts=opts)
    return NodeIdentity(account=account, email=account.email, member=member)

