"""Node start-up scripts: local SSD, and the cluster's shared storage mounted where it belongs.

The scripts are idempotent (each mount is skipped when already there) so a reboot re-runs them
safely. They are plain text built from the mounts ClusterStorage outputs.
"""

import shlex
from typing import Iterable, Mapping

HEADER = """#!/bin/bash
# Written by ai-clusters: mounts this cluster's storage. Safe to run again.
set -euo pipefail
log() { echo "ai-clusters: $*" | systemd-cat -t ai-clusters 2>/dev/null || echo "ai-clusters: $*"; }
have() { command -v "$1" >/dev/null 2>&1; }
pkg() { if have apt-get; then DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"; else dnf install -y "$@"; fi; }
"""

LOCAL_SSD = """
# Local NVMe SSDs as one RAID 0 array at /mnt/localssd (scratch: lost when the VM stops).
if [ ! -e /dev/md/localssd ] && ls /dev/disk/by-id/google-local-nvme-ssd-* >/dev/null 2>&1; then
  have mdadm || pkg mdadm
  ssds=$(ls /dev/disk/by-id/google-local-nvme-ssd-*)
  mdadm --create /dev/md/localssd --level=0 --force --raid-devices=$(echo $ssds | wc -w) $ssds
  mkfs.ext4 -F /dev/md/localssd
fi
if [ -e /dev/md/localssd ] && ! mountpoint -q /mnt/localssd; then
  mkdir -p /mnt/localssd && mount /dev/md/localssd /mnt/localssd && chmod a+w /mnt/localssd
fi
"""


DRIVER = """
# NVIDIA driver with Google's installer (compute/docs/gpus/install-drivers-gpu). It may reboot the VM;
# this script runs again at the next boot and continues.
if ! nvidia-smi >/dev/null 2>&1; then
  mkdir -p /opt/google/cuda-installer && cd /opt/google/cuda-installer
  curl -fSsL -O https://storage.googleapis.com/compute-gpu-installation-us/installer/latest/cuda_installer.pyz
  python3 cuda_installer.pyz install_driver
  cd /
fi
"""


def _mount_block(mount: Mapping[str, str]) -> str:
    kind = mount["kind"]
    point = shlex.quote(mount["mount_point"])
    source = mount["source"]
    opts = mount.get("options") or "defaults"
    guard = f"if ! mountpoint -q {point}; then\n  mkdir -p {point}\n"
    if kind == "filestore":
        body = f"  have mount.nfs || pkg nfs-common || pkg nfs-utils\n  mount -t nfs -o {shlex.quote(opts)} {shlex.quote(source)} {point}\n"
    elif kind == "lustre":
        body = (
            "  # The Managed Lustre client modules must match the kernel; see Google's Managed Lustre client docs.\n"
            "  modprobe lustre 2>/dev/null || log 'lustre client not installed'\n"
            f"  mount -t lustre -o {shlex.quote(opts)} {shlex.quote(source)} {point}\n"
        )
    elif kind == "parallelstore":
        body = (
            "  # DAOS agent pointed at the Parallelstore access points, then dfuse.\n"
            f"  mkdir -p /etc/daos && printf 'access_points: [%s]\\ntransport_config:\\n  allow_insecure: true\\n' {shlex.quote(source)} > /etc/daos/daos_agent.yml\n"
            "  systemctl restart daos_agent 2>/dev/null || log 'daos client not installed'\n"
            f"  dfuse -m {point} --pool default-pool --container default-container --multi-user\n"
        )
    elif kind == "gcsfuse":
        body = (
            "  have gcsfuse || pkg gcsfuse\n"
            f"  gcsfuse -o allow_other --implicit-dirs --file-cache-max-size-mb=-1 {shlex.quote(source)} {point}\n"
        )
    elif kind == "hyperdisk-ml":
        body = f"  mount -o {shlex.quote(opts)} /dev/disk/by-id/google-models {point}\n"
    elif kind == "disk":
        # A block device by path (TPU VM data disks have no device name): ext4 on first use unless read-only.
        writable = "ro" not in opts.split(",")
        body = f"  dev={shlex.quote(source)}\n  for _ in $(seq 60); do [ -b \"$dev\" ] && break; sleep 2; done\n"
        if writable:
            body += '  blkid \"$dev\" >/dev/null 2>&1 || mkfs.ext4 -m 0 -E lazy_itable_init=0,lazy_journal_init=0,discard \"$dev\"\n'
        body += f"  mount -o {shlex.quote(opts)} \"$dev\" {point}\n"
        if writable:
            body += f"  chmod a+w {point}\n"
    else:
        raise ValueError(f"unknown mount kind {kind!r}")
    return f"\n# {kind}: {source} at {mount['mount_point']}\n{guard}{body}fi\n"


def environment_block(values: Mapping[str, str], comment: str) -> str:
    """Shell that sets each KEY=VALUE in /etc/environment (read by every login and ssh session), replacing old values.

    A value may be a shell expression in `$(...)`: it is evaluated when the script runs.
    """
    lines = [f"\n# {comment}"]
    for key, value in values.items():
        if not key.isidentifier():
            raise ValueError(f"{key!r} is not an environment variable name")
        rendered = value if value.startswith("$(") and value.endswith(")") else shlex.quote(value)
        lines.append(f"sed -i '/^{key}=/d' /etc/environment && echo {key}={rendered} >> /etc/environment")
    return "\n".join(lines) + "\n"


def startup_script(
    mounts: Iterable[Mapping[str, str]], *, local_ssd: bool = False, install_driver: bool = False, extra: str = ""
) -> str:
    """A start-up script that installs the GPU driver if asked, prepares local SSD and mounts every mount."""
    parts = [HEADER]
    if install_driver:
        parts.append(DRIVER)
    if local_ssd:
        parts.append(LOCAL_SSD)
    parts.extend(_mount_block(m) for m in mounts)
    if extra:
        parts.append("\n" + extra.rstrip() + "\n")
    parts.append('\nlog "start-up done"\n')
    return "".join(parts)
