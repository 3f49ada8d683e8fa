"""What slurm-gcp v6 reads: the cluster configuration in the config bucket, and the node bootstrap.

Every node of a slurm-gcp cluster (controller, login, compute) reads the metadata key
`slurm_bucket_path` (gs://BUCKET/CLUSTER-files) and assembles its configuration from the objects
below it, as the Cluster Toolkit's slurm_files module writes them:

    config.yaml                      the cluster: name, project, bucket path, storage, conf templates
    nodeset_configs/NODESET.yaml     one per node set: instance template, counts, placement, zone
    partition_configs/PARTITION.yaml one per partition: node sets, exclusive, Slurm settings
    login_group_configs/GROUP.yaml   one per login group
    slurm-ROLE-script-NAME           extra start-up scripts per role (ROLE: controller,
                                     nodeset-NODESET, login-GROUP), run by slurm-gcp's setup.py

The functions here build those documents from a SlurmLayout and plain values; SlurmCluster stores
them as bucket objects. The slurm.conf, slurmdbd.conf and cgroup.conf templates are ours: slurm-gcp
fills in the placeholders named in its conf.py ({name}, {control_host_port}, {auth_key} …).
"""

import uuid
from typing import Any, Iterable, Mapping, Optional

import yaml

from ai_clusters.core.catalog.models import SlurmLongProlog
from ai_clusters.slurm.plan import NodeSet, Partition, SlurmLayout

UNIVERSE_DOMAIN = "googleapis.com"
CONTROL_PORT = "6818"  # slurm_control_host_port as the Toolkit's slurm_files module writes it
STARTUP_TIMEOUT_S = 300
SCRIPT_KINDS = ("parallelstore", "hyperdisk-ml")  # mounted by our start-up script, not by slurm-gcp

SLURM_CONF_TPL = """\
# slurm.conf, filled in by slurm-gcp on the controller (https://slurm.schedmd.com/slurm.conf.html).
# Nodes, node sets, partitions and power saving come from cloud.conf, which slurm-gcp generates.
ClusterName={name}
{slurmctld_hosts}
SlurmctldPort={control_host_port}
SlurmdPort=6818
SlurmUser=slurm
StateSaveLocation={state_save}
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/var/run/slurm/slurmctld.pid
SlurmdPidFile=/var/run/slurm/slurmd.pid

AuthType=auth/{auth_key}
CredType=cred/{auth_key}
AuthInfo=cred_expire=120
AuthAltTypes=auth/jwt

# Jobs are confined to their cores, memory and GPUs; whole-node jobs come from the partitions.
ProctrackType=proctrack/cgroup
TaskPlugin=task/affinity,task/cgroup
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault={mpi_default}
ReturnToService=2
MaxNodeCount=64000
MessageTimeout=60

AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost={accounting_storage_host}
{accounting_storage_backup_host}
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/cgroup
JobAcctGatherFrequency=30

SlurmctldLogFile={slurmlog}/slurmctld.log
SlurmdLogFile={slurmlog}/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info

include cloud.conf
"""

SLURMDBD_CONF_TPL = """\
# slurmdbd.conf, filled in by slurm-gcp on the controller (https://slurm.schedmd.com/slurmdbd.conf.html).
{dbd_host_str}
SlurmUser=slurm
AuthType=auth/{auth_key}
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key={state_save}/jwt_hs256.key
PidFile=/var/run/slurm/slurmdbd.pid
LogFile={slurmlog}/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost={db_host}
StoragePort={db_port}
StorageUser={db_user}
StoragePass={db_pass}
StorageLoc={db_name}
"""

CGROUP_CONF_TPL = """\
# cgroup.conf (https://slurm.schedmd.com/cgroup.conf.html)
ConstrainCores=yes
ConstrainRAMSpace=yes
ConstrainSwapSpace=no
ConstrainDevices=yes
"""



def slurm_conf_tpl(long_prolog: Optional[SlurmLongProlog] = None) -> str:
    """slurm.conf; with `long_prolog`, the timers Cluster Toolkit's A3 examples give clusters whose prolog starts RxDM."""
    if long_prolog is None:
        return SLURM_CONF_TPL
    lp = long_prolog
    out = SLURM_CONF_TPL.replace("AuthInfo=cred_expire=120\n", f"AuthInfo=cred_expire={lp.cred_expire}\n").replace(
        "MessageTimeout=60\n",
        f"MessageTimeout={lp.message_timeout}\nBatchStartTimeout={lp.batch_start_timeout}\n"
        f"PrologEpilogTimeout={lp.prolog_epilog_timeout}\nPrologFlags={lp.prolog_flags}\n",
    )
    assert out.count(str(lp.prolog_epilog_timeout)) and f"cred_expire={lp.cred_expire}" in out, "the template's timer lines moved"
    return out


ACCOUNTING_DATABASE = "slurm_accounting"
ACCOUNTING_USER = "slurm"


def cloudsql_secret_id(cluster_name: str) -> str:
    """The Secret Manager secret slurm-gcp's conf.py reads the Cloud SQL connection from."""
    return f"{cluster_name}-slurm-secret-cloudsql"


def cluster_id(project: str, cluster_name: str) -> str:
    """A stable cluster id (the Toolkit draws a random one once and keeps it in its state)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ai-clusters/{project}/{cluster_name}"))


def network_storage(mounts: Iterable[Mapping[str, Any]]) -> list[dict]:
    """ClusterStorage mounts as slurm-gcp's network_storage entries (it writes them to /etc/fstab)."""
    out = []
    for m in mounts:
        kind, source = m["kind"], str(m["source"])
        options = m.get("options") or "defaults"
        if kind == "filestore":
            server, _, share = source.partition(":")
            out.append(_entry(server, share, m["mount_point"], "nfs", options))
        elif kind == "lustre":
            server, _, fs = source.partition(":")  # "IP@tcp:/fs"
            out.append(_entry(server, fs, m["mount_point"], "lustre", options))
        elif kind == "gcsfuse":
            # Jobs run as their users: the mount must be visible and writable to them (the
            # Toolkit's A3 blueprints mount their data bucket the same way); IAM still decides access.
            extra = [o for o in ("allow_other", "dir_mode=777", "file_mode=777") if o.split("=")[0] not in options]
            out.append(_entry("", source, m["mount_point"], "gcsfuse", ",".join([options, *extra])))
    return out


def script_mounts(mounts: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The mounts slurm-gcp does not handle (Parallelstore, Hyperdisk ML): our start-up script does."""
    return [m for m in mounts if m["kind"] in SCRIPT_KINDS]


def _entry(server: str, remote: str, local: str, fs_type: str, options: str) -> dict:
    return {"server_ip": server, "remote_mount": remote, "local_mount": local, "fs_type": fs_type, "mount_options": options}


def core_config(
    layout: SlurmLayout,
    *,
    project: str,
    bucket_path: str,
    storage: list[dict],
    cloudsql_secret: Optional[str] = None,
    prolog_scripts: Iterable[str] = (),
    epilog_scripts: Iterable[str] = (),
) -> dict:
    """config.yaml: what every node reads first. `prolog_scripts`/`epilog_scripts` name the scripts stored as
    slurm-prolog-script-NAME / slurm-epilog-script-NAME (slurm-gcp then writes Prolog=/slurm/custom_scripts/prolog.d/*)."""
    return {
        "slurm_cluster_name": layout.cluster_name,
        "cluster_id": cluster_id(project, layout.cluster_name),
        "project": project,
        "bucket_path": bucket_path,
        "enable_slurm_auth": layout.native_auth,  # auth/slurm: the controller shares slurm.key over NFS (slurm_key_mount null)
        "enable_bigquery_load": False,
        "enable_debug_logging": False,
        "extra_logging_flags": {},
        "cloudsql_secret": cloudsql_secret,
        "slurm_backup_controller_name": None,
        "slurm_backup_controller_ip": None,
        "accounting_storage_backup_host": None,
        "controller_state_disk": {"device_name": None},
        "controller_network_attachment": None,
        "disable_default_mounts": False,  # the controller still exports /opt/apps; /home is the Filestore below
        "network_storage": storage,
        "munge_mount": None,
        "slurm_key_mount": None,
        "controller_startup_scripts_timeout": STARTUP_TIMEOUT_S,
        "compute_startup_scripts_timeout": STARTUP_TIMEOUT_S,
        "backup_controller_key_timeout": STARTUP_TIMEOUT_S,
        "prolog_scripts": list(prolog_scripts),
        "epilog_scripts": list(epilog_scripts),
        "task_prolog_scripts": [],
        "task_epilog_scripts": [],
        "cloud_parameters": {},
        "hybrid": False,
        "google_app_cred_path": None,
        "output_dir": None,
        "install_dir": None,
        "slurm_control_host": None,
        "slurm_control_host_port": CONTROL_PORT,
        "slurm_control_addr": None,
        "slurm_bin_dir": None,
        "slurm_log_dir": None,
        "slurm_conf_tpl": slurm_conf_tpl(layout.long_prolog),
        "slurmdbd_conf_tpl": SLURMDBD_CONF_TPL,
        "cgroup_conf_tpl": CGROUP_CONF_TPL,
        "endpoint_versions": {"compute": "beta"},
    }


def nodeset_config(ns: NodeSet, *, template: str, subnetwork: str, zone: str, project: str) -> dict:
    """nodeset_configs/NAME.yaml: how the controller creates this node set's VMs."""
    flex = ns.flex
    reservation = ns.provisioning.reservation
    return {
        "nodeset_name": ns.name,
        "instance_template": template,
        "node_count_static": ns.static_nodes,
        "node_count_dynamic_max": ns.dynamic_nodes,
        "node_conf": dict(ns.node_conf),
        "subnetwork": subnetwork,
        "zone_target_shape": "ANY_SINGLE_ZONE",
        "zone_policy_allow": [zone],
        "zone_policy_deny": [],
        "enable_placement": ns.placement,
        "placement_max_distance": None,
        "accelerator_topology": None,
        "reservation_name": f"projects/{project}/reservations/{reservation}" if reservation else "",
        "future_reservation": "",
        "dws_flex": {
            "enabled": flex,
            "max_run_duration": (ns.provisioning.max_run_hours or 168) * 3600,
            "use_job_duration": False,
            "use_bulk_insert": False,
        },
        "maintenance_interval": None,
        "enable_maintenance_reservation": False,
        "enable_opportunistic_maintenance": False,
        "instance_properties": None,
        "instance_properties_json": "null",
        "network_storage": [],
    }


def partition_config(p: Partition) -> dict:
    """partition_configs/NAME.yaml."""
    return {
        "partition_name": p.name,
        "partition_conf": dict(p.conf),
        "partition_nodeset": list(p.node_sets),
        "partition_nodeset_dyn": [],
        "partition_nodeset_tpu": [],
        "enable_job_exclusive": p.job_exclusive,
    }


def login_group_config(layout: SlurmLayout) -> dict:
    """login_group_configs/GROUP.yaml."""
    return {"group_name": layout.login.group, "startup_scripts_timeout": STARTUP_TIMEOUT_S, "network_storage": []}


def script_key(filename: str) -> str:
    """A script's key as the Toolkit's slurm_files names it: its file name, `.` -> `_` (setup.py turns STEM_EXT back into STEM.EXT)."""
    stem, _, ext = filename.rpartition(".")
    return f"{stem.replace('.', '_')}_{ext}"


def script_object(token: str, filename: str) -> str:
    """Object name of an extra script; TOKEN: controller, nodeset-NAME, login-GROUP (start-up), prolog, epilog."""
    return f"slurm-{token}-script-{script_key(filename)}"


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # libyaml when present: same output, faster
    """Keys in the order written, multi-line strings (the conf templates) as literal blocks, no anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_Dumper.add_representer(
    str, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)
)


def to_yaml(doc: Mapping[str, Any]) -> str:
    return yaml.dump(dict(doc), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)


BOOTSTRAP = """\
#!/bin/bash
# ai-clusters: bring up a slurm-gcp v6 node (controller, login or compute). slurm-gcp's setup.py does
# the work from the configuration under slurm_bucket_path; this fetches the scripts and runs it once.
set -euo pipefail
attr() { curl -sSf -H Metadata-Flavor:Google "http://metadata.google.internal/computeMetadata/v1/instance/attributes/$1"; }
ROLE="$(attr slurm_instance_role)"
BUCKET_PATH="$(attr slurm_bucket_path)"
SOURCE="$(attr slurm_scripts_url || true)"      # empty: the scripts were uploaded to the bucket
SUBDIR="$(attr slurm_scripts_path || true)"
export CLOUDSDK_CORE_UNIVERSE_DOMAIN="$(attr universe_domain)"
SCRIPTS=/slurm/scripts
mkdir -p "$SCRIPTS"

fetch() {
  if [ -z "$SOURCE" ]; then
    local zip=slurm-gcp-devel.zip
    [ "$ROLE" = controller ] && zip=slurm-gcp-devel-controller.zip
    gcloud storage cp "$BUCKET_PATH/$zip" /tmp/slurm-gcp-scripts.zip &&
      unzip -o -q /tmp/slurm-gcp-scripts.zip -d "$SCRIPTS" && rm -f /tmp/slurm-gcp-scripts.zip
  else
    # The pinned Cluster Toolkit source: keep only the slurm-gcp scripts folder.
    local depth=$(( $(printf '%s' "$SUBDIR" | tr -cd / | wc -c) + 2 ))
    case "$SOURCE" in
      gs://*) gcloud storage cat "$SOURCE" ;;
      *) curl -fsSL --retry 5 "$SOURCE" ;;
    esac | tar -xz -C "$SCRIPTS" --strip-components="$depth" --wildcards "*/$SUBDIR/*"
  fi
}
for attempt in $(seq 60); do
  fetch && break
  echo "ai-clusters: slurm-gcp scripts not fetched (attempt $attempt), retrying" >&2
  sleep 10
done
[ -f "$SCRIPTS/setup.py" ] || { echo "ai-clusters: no slurm-gcp setup.py in $SCRIPTS" >&2; exit 1; }
chown -R slurm:slurm "$SCRIPTS" 2>/dev/null || true
chmod -R 700 "$SCRIPTS"

# Images built before slurm-gcp shipped its own Python get a link to the system one.
PY=/slurm/python/venv/bin/python3.13
[ -e "$PY" ] || { mkdir -p "$(dirname "$PY")" && ln -s /usr/bin/python3 "$PY"; }

FLAG=/slurm/slurm_configured_do_not_remove
if [ -f "$FLAG" ]; then echo "ai-clusters: Slurm is configured already"; exit 0; fi
touch "$FLAG"
chmod +x "$SCRIPTS/setup.py"
exec "$SCRIPTS/setup.py"
"""


def staged_scripts_object(layout: SlurmLayout) -> Optional[str]:
    """Where the scripts tarball is copied in the config bucket (under the cluster's folder), when it is staged there."""
    if layout.scripts_dir is not None or not layout.stage_scripts or layout.scripts_url.startswith("gs://"):
        return None
    return f"slurm-gcp-scripts-{layout.facts.toolkit_commit[:12]}.tar.gz"


def node_metadata(layout: SlurmLayout, role: str, bucket_path: Any, staged_url: Any = None, **extra: Any) -> dict:
    """The metadata slurm-gcp's scripts read on every node, and where our bootstrap finds the scripts: the zips
    uploaded from scriptsDir (empty url), the tarball staged in the config bucket (`staged_url`), or scriptsUrl itself."""
    uploaded = layout.scripts_dir is not None
    return {
        "slurm_cluster_name": layout.cluster_name,
        "slurm_instance_role": role,
        "slurm_bucket_path": bucket_path,
        "universe_domain": UNIVERSE_DOMAIN,
        "slurm_scripts_url": "" if uploaded else (staged_url if staged_url is not None else layout.scripts_url),
        "slurm_scripts_path": "" if uploaded else layout.facts.scripts_path,
        **extra,
    }


__all__ = [
    "ACCOUNTING_DATABASE",
    "ACCOUNTING_USER",
    "BOOTSTRAP",
    "CGROUP_CONF_TPL",
    "SLURMDBD_CONF_TPL",
    "SLURM_CONF_TPL",
    "cloudsql_secret_id",
    "cluster_id",
    "core_config",
    "login_group_config",
    "network_storage",
    "node_metadata",
    "nodeset_config",
    "partition_config",
    "script_mounts",
    "script_key",
    "script_object",
    "slurm_conf_tpl",
    "staged_scripts_object",
    "to_yaml",
]
