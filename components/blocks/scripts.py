"""Node start-up scripts: the GPU driver, GPUDirect, storage clients, and the cluster's storage mounted.

`startup_script(NodeScript(...))` writes one bash script from the catalog's `node_setup` facts (images, tags,
flags, repositories and packages) and the mounts ClusterStorage outputs. Every step runs on its own, in a
subshell with `set -euo pipefail`: a failed step is logged with its name (the start-up script's output goes
to the serial console and the journal), recorded in the guest attribute `ai-clusters/<step>` and in
`ai-clusters/status`, and the other steps still run; the script exits non-zero when any step failed. Each
step is idempotent (a mount is skipped when already there, a package when installed), so the script runs
again safely at every boot. Pure text: no Pulumi here.
"""

import shlex
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional

from ai_clusters.core.catalog import catalog
from ai_clusters.core.catalog.models import AptRepository, ContainerRun, GpuDirectHost

GUEST_ATTRIBUTES = "http://metadata.google.internal/computeMetadata/v1/instance/guest-attributes/ai-clusters"
RXDM_CONTAINER = "receive-datapath-manager"
PLUGIN_CONTAINER = "nccl-plugin-installer"

HEADER = f"""#!/bin/bash
# Written by ai-clusters: prepares this node and mounts this cluster's storage. Safe to run again.
# Each step runs on its own; a failed step is logged by name, recorded in the guest attribute
# ai-clusters/<step> (gcloud compute instances get-guest-attributes VM --query-path=ai-clusters/) and in
# ai-clusters/status, and the other steps still run.
set -uo pipefail
FAILED=""
export HOME=/var/lib/ai-clusters  # docker keeps its credentials here (the root file system of Container-Optimized OS is read-only)
mkdir -p "$HOME"
log() {{ echo "ai-clusters: $*"; logger -t ai-clusters -- "$*" 2>/dev/null || true; }}
report() {{ curl -fsS -m 5 -X PUT --data "$2" -H 'Metadata-Flavor: Google' "{GUEST_ATTRIBUTES}/$1" >/dev/null 2>&1 || true; }}
step() {{
  local name=$1; shift
  log "step $name: started"
  ( set -euo pipefail; "$@" )
  local rc=$?
  if [ "$rc" -eq 0 ]; then log "step $name: done"; report "$name" ok
  else log "step $name: FAILED (exit $rc)"; report "$name" "failed (exit $rc)"; FAILED="$FAILED $name"; fi
}}
have() {{ command -v "$1" >/dev/null 2>&1; }}
os_id() {{ (. /etc/os-release && echo "$ID"); }}
codename() {{ (. /etc/os-release && echo "${{VERSION_CODENAME:-$UBUNTU_CODENAME}}"); }}
apt_install() {{
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "$@" || {{ apt-get update -q && apt-get install -y -q "$@"; }}
}}
apt_repo() {{  # name, line ({{keyring}} and {{codename}} filled in), key URL or "", list URL or ""
  local name=$1 line=$2 key=$3 list=$4 keyring=/etc/apt/keyrings/$1.gpg
  mkdir -p /etc/apt/keyrings /etc/apt/sources.list.d
  if [ -n "$key" ] && [ ! -s "$keyring" ]; then curl -fsSL "$key" | gpg --dearmor --yes -o "$keyring"; fi
  if [ -n "$list" ]; then
    curl -fsSL "$list" | sed "s#deb https://#deb [signed-by=$keyring] https://#g" > "/etc/apt/sources.list.d/$name.list"
  else
    line=${{line//\\{{keyring\\}}/$keyring}}; line=${{line//\\{{codename\\}}/$(codename)}}
    echo "$line" > "/etc/apt/sources.list.d/$name.list"
  fi
  apt-get update -q
}}
"""

FOOTER = f"""
if [ -n "$FAILED" ]; then
  log "start-up finished; failed steps:$FAILED"
  report status "failed:$FAILED"
  exit 1
fi
report status ok
log "start-up done"
"""

INSTALLER_DRIVER = """
step_gpu_driver() {
  # Google's GPU driver installer (compute/docs/gpus/install-drivers-gpu). It may reboot the VM; this script
  # runs again at the next boot and continues.
  nvidia-smi >/dev/null 2>&1 && return 0
  mkdir -p /opt/google/cuda-installer && cd /opt/google/cuda-installer
  curl -fSsL -O https://storage.googleapis.com/compute-gpu-installation-us/installer/latest/cuda_installer.pyz
  python3 cuda_installer.pyz install_driver
}
step gpu-driver step_gpu_driver
"""

LOCAL_SSD = """
step_local_ssd() {
  # Local NVMe SSDs as one RAID 0 array at /mnt/localssd (scratch: lost when the VM stops).
  mountpoint -q /mnt/localssd && return 0
  ls /dev/disk/by-id/google-local-nvme-ssd-* >/dev/null 2>&1 || { log "no local SSD"; return 0; }
  if [ "$(os_id)" = cos ]; then log "Container-Optimized OS has no mdadm: local SSDs stay unassembled"; return 0; fi
  have mdadm || apt_install mdadm || dnf install -y mdadm
  if [ ! -e /dev/md/localssd ]; then
    ssds=$(ls /dev/disk/by-id/google-local-nvme-ssd-*)
    mdadm --create /dev/md/localssd --level=0 --force --raid-devices=$(echo $ssds | wc -w) $ssds
    mkfs.ext4 -F /dev/md/localssd
  fi
  mkdir -p /mnt/localssd && mount /dev/md/localssd /mnt/localssd && chmod a+w /mnt/localssd
}
step local-ssd step_local_ssd
"""


@dataclass(frozen=True)
class NodeScript:
    """What one node's start-up script does."""

    mounts: tuple[Mapping[str, str], ...] = ()
    """The storage it mounts (ClusterStorage.mounts entries)."""
    os: Optional[str] = None
    """The image's OS from the catalog (ImageOs.os); None for an image the catalog does not know."""
    install_driver: bool = False
    """Install the NVIDIA driver with Google's installer (images without one)."""
    local_ssd: bool = False
    """Assemble the bundled local SSDs into /mnt/localssd."""
    gpudirect: Optional[GpuDirectHost] = None
    """Light the family's GPUDirect: the host set-up of its flavour and OS."""
    gpus: int = 0
    """GPUs of the node (RxDM gets their devices on hosts without the NVIDIA container toolkit)."""
    rxdm_at_boot: bool = True
    """Start the receive-datapath manager now (VMs); Slurm starts it per job in its prolog instead."""
    image_build: bool = False
    """An image build: the GPUDirect steps that need no GPU machine, done ahead of boot (no mounts then)."""
    extra: str = ""
    """Commands run last (a TPU cluster's multislice environment and its own commands)."""
    first_steps: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Named steps (name, shell lines) run before everything else (an image build's own steps)."""
    skip_kinds: tuple[str, ...] = field(default=())
    """Mount kinds this node leaves to another mechanism (slurm-gcp mounts its network storage itself)."""


def _q(text: str) -> str:
    return shlex.quote(text)


def _repo_lines(repos: Iterable[AptRepository]) -> list[str]:
    lines = []
    for r in repos:
        if r.requires:
            lines.append(f"  apt_install {' '.join(_q(p) for p in r.requires)}")
        lines.append(f"  apt_repo {_q(r.name)} {_q(r.line or '')} {_q(r.key_url or '')} {_q(r.list_url or '')}")
    return lines


UDS = "{uds_path}"
DETACHED = ("--detach", "--restart=unless-stopped")  # a VM's daemon: back after a restart of docker
ONCE = ("--rm",)


def shell_word(text: str, uds: Optional[str] = None, uds_var: Optional[str] = None) -> str:
    """`text` as one shell word, its {uds_path} the literal `uds` or the expansion of the shell variable `uds_var`."""
    if UDS not in text:
        return _q(text)
    if uds_var is None:
        return _q(text.replace(UDS, uds or ""))
    return f'"${uds_var}"'.join(_q(part) if part else "" for part in text.split(UDS))


def docker_run(
    name: str, run: ContainerRun, *, gpus: int, mode: Iterable[str] = ONCE, uds: Optional[str] = None, uds_var: Optional[str] = None
) -> str:
    """`docker run` of a catalog container with exactly its flags and arguments; `name` may hold shell expansions."""
    flags = list(run.docker_flags)
    if run.gpu_devices:
        flags += [f"--device=/dev/nvidia{i}" for i in range(gpus)]
    words = [*(shell_word(f, uds, uds_var) for f in flags), _q(run.image), *(shell_word(a, uds, uds_var) for a in run.args)]
    return " ".join(["docker run", *mode, f"--name={name}", *words])


DOCKER_SIGNIN = (
    "  # Google's images sit in Artifact Registry: docker signs in with the node's service account.\n"
    "  { if have docker-credential-gcr; then docker-credential-gcr configure-docker --registries=us-docker.pkg.dev; "
    "elif have gcloud; then gcloud auth configure-docker --quiet us-docker.pkg.dev; fi; } || log 'docker not signed in to us-docker.pkg.dev'"
)


def package_names(packages: Iterable[str]) -> list[str]:
    """apt package names without their version pins (`nccl-gib=1.1.0` -> `nccl-gib`)."""
    return [p.split("=")[0] for p in packages]


def gpudirect_steps(host: GpuDirectHost, *, gpus: int, rxdm_at_boot: bool, image_build: bool = False) -> str:
    """The steps that make a node of `host`'s flavour ready for NCCL over every GPU NIC.

    `rxdm_at_boot`: the node starts RxDM now (VMs); else it only pulls RxDM's image, a Slurm prolog starts it per job
    and the NCCL environment names the job's socket folder. `image_build`: the steps an image build can do ahead of
    boot (packages, DKMS, the aperture udev rule, docker, files); what needs the GPU machine is left to boot.
    """
    out: list[str] = []
    flavor = host.flavor.value
    if host.driver:
        out.append("\nstep_gpu_driver() {\n" + "\n".join(f"  {line}" for line in host.driver) + "\n}\nstep gpu-driver step_gpu_driver\n")
    if host.exec_mounts:
        body = "\n".join(f"  mkdir -p {_q(d)} && mount --bind {_q(d)} {_q(d)} && mount -o remount,exec {_q(d)}" for d in host.exec_mounts)
        out.append(f"\nstep_exec_mounts() {{\n  # Container-Optimized OS mounts /var not executable: the driver and the plugin live there.\n{body}\n}}\nstep exec-mounts step_exec_mounts\n")
    fix = host.dkms_fix
    packages = [p for p in host.packages if fix is None or p.split("=")[0] != fix.package]
    if host.repositories or packages:
        needed = package_names([*(p for r in host.repositories for p in r.requires), *packages])
        installed = [f"  dpkg -s {' '.join(_q(p) for p in needed)} >/dev/null 2>&1 && return 0  # installed already (a built image)"] if needed else []
        body = installed + _repo_lines(host.repositories) + ([f"  apt_install {' '.join(_q(p) for p in packages)}"] if packages else [])
        out.append(f"\nstep_{flavor}_packages() {{\n" + "\n".join(body) + f"\n}}\nstep {flavor}-packages step_{flavor}_packages\n")
    if fix is not None:
        src = f"/usr/src/{fix.package}-{fix.version}"
        module = host.kernel_modules[0] if host.kernel_modules else fix.package
        sed = _q("s/" + _sed_escape(fix.replace[0]) + "/" + _sed_escape(fix.replace[1]) + "/")
        out.append(
            f"""
step_{fix.package.replace('-', '_')}() {{
  # The DKMS module built from its packaged source (as Cluster Toolkit's A3 Mega image does); kernels whose build
  # fails get the source's one-line fix first.
  modprobe {_q(module)} 2>/dev/null && return 0
  if [ ! -d {src} ]; then
    tmp=$(mktemp -d) && (cd "$tmp" && apt-get download {_q(fix.package)} && dpkg-deb -x ./*.deb .)
    cp -r "$tmp{src}" /usr/src/ && rm -rf "$tmp"
  fi
  dkms status -m {_q(fix.package)} -v {_q(fix.version)} | grep -q added || dkms add -m {_q(fix.package)} -v {_q(fix.version)} || true
  if ! dkms build -m {_q(fix.package)} -v {_q(fix.version)} --force; then
    sed -i {sed} {src}/{fix.file}
    dkms build -m {_q(fix.package)} -v {_q(fix.version)} --force
  fi
  dkms install -m {_q(fix.package)} -v {_q(fix.version)} --force
}}
step {fix.package} step_{fix.package.replace('-', '_')}
"""
        )
    if host.kernel_modules:
        out.append("\nstep_kernel_modules() {\n" + "\n".join(f"  modprobe {_q(m)}" for m in host.kernel_modules) + "\n}\nstep kernel-modules step_kernel_modules\n")
    if host.aperture_devices and image_build and host.aperture_udev_rule:
        out.append(
            f"""
step_aperture_udev() {{
  # The aperture devices bound under /dev/aperture_devices at every boot (as Cluster Toolkit's A3 Mega image does).
  mkdir -p /etc/udev/rules.d
  printf '%s\\n' {_q(host.aperture_udev_rule)} > /etc/udev/rules.d/00-a3-megagpu.rules
  update-initramfs -u -k all
}}
step aperture-udev step_aperture_udev
"""
        )
    elif host.aperture_devices and not image_build:
        out.append(
            f"""
step_aperture_devices() {{
  # The aperture devices RxDM and NCCL read, bound under /dev/aperture_devices (as Google's TCPXO installer does).
  mkdir -p /dev/aperture_devices
  lspci -nn -D | grep {_q(host.aperture_devices)} | awk '{{print $1}}' | while read -r bdf; do
    mkdir -p "/dev/aperture_devices/$bdf"
    mountpoint -q "/dev/aperture_devices/$bdf" || mount --bind "$(readlink -f /sys/bus/pci/devices/$bdf)" "/dev/aperture_devices/$bdf"
  done
  chmod -R a+r /dev/aperture_devices/
  chmod a+rw /dev/aperture_devices/*/resource*
}}
step aperture-devices step_aperture_devices
"""
        )
    if host.accept_tcp and not image_build:
        out.append("\nstep_accept_tcp() {\n  iptables -C INPUT -p tcp -m tcp -j ACCEPT 2>/dev/null || iptables -I INPUT -p tcp -m tcp -j ACCEPT\n}\nstep accept-tcp step_accept_tcp\n")
    if host.docker and host.os != "cos":
        repos = catalog().data.node_setup.docker  # type: ignore[union-attr]
        body = [
            "  have docker || apt_install docker.io",
            "  if ! have nvidia-ctk; then",
            *("  " + line for line in _repo_lines(repos)),
            "    apt_install nvidia-container-toolkit",
            "  fi",
            "  nvidia-ctk runtime configure --runtime=docker",
            "  systemctl restart docker",
        ]
        out.append("\nstep_docker() {\n" + "\n".join(body) + "\n}\nstep docker step_docker\n")
    for path, content in host.files.items():
        key = path.rsplit("/", 1)[-1].split(".")[0].replace("_", "-")
        out.append(
            f"\nstep_file_{key.replace('-', '_')}() {{\n  mkdir -p {_q(path.rsplit('/', 1)[0])}\n"
            f"  cat > {_q(path)} <<'AI_CLUSTERS_FILE'\n{content.rstrip()}\nAI_CLUSTERS_FILE\n}}\nstep {key} step_file_{key.replace('-', '_')}\n"
        )
    if image_build:
        out.append(nccl_env_step(host, host.job_uds_path or host.uds_path))
        return "".join(out)
    if host.plugin is not None:
        body = [
            DOCKER_SIGNIN,
            f"  rm -rf {_q(host.nccl.library_dir or '/nonexistent')}",
            "  " + docker_run(PLUGIN_CONTAINER, host.plugin, gpus=gpus, uds=host.uds_path),
            f"  test -d {_q(host.nccl.library_dir or '/')}",
        ]
        out.append(f"\nstep_nccl_plugin() {{\n" + "\n".join(body) + f"\n}}\nstep nccl-plugin step_nccl_plugin\n")
    if host.rxdm is not None and not rxdm_at_boot:
        out.append(
            f"\nstep_rxdm_image() {{\n  # RxDM starts per job (a prolog): its image is pulled now, so that jobs start without waiting.\n"
            f"{DOCKER_SIGNIN}\n  docker pull {_q(host.rxdm.image)}\n}}\nstep rxdm-image step_rxdm_image\n"
        )
    if host.rxdm is not None and rxdm_at_boot:
        wait = ""
        if host.rxdm.ready_log:
            wait = (
                f"\n  for _ in $(seq 60); do docker logs {RXDM_CONTAINER} 2>&1 | grep -q {_q(host.rxdm.ready_log)} && return 0; sleep 2; done\n"
                f"  log 'RxDM did not report ready: {host.rxdm.ready_log}'; return 1"
            )
        body = [
            f"  mkdir -p {_q(host.uds_path)}" if host.uds_path else "",
            f"  docker rm -f {RXDM_CONTAINER} >/dev/null 2>&1 || true",
            "  " + docker_run(RXDM_CONTAINER, host.rxdm, gpus=gpus, mode=DETACHED, uds=host.uds_path),
        ]
        out.append("\nstep_rxdm() {\n  # The receive-datapath manager: it must run while NCCL jobs use the GPU NICs.\n"
                   + "\n".join(b for b in body if b) + wait + "\n}\nstep rxdm step_rxdm\n")
    out.append(nccl_env_step(host, host.uds_path if rxdm_at_boot else (host.job_uds_path or host.uds_path)))
    return "".join(out)


def _sed_escape(text: str) -> str:
    """A literal for sed's basic regular expressions and replacements."""
    out = ""
    for ch in text:
        out += "\\" + ch if ch in "\\/.*[]^$&" else ch
    return out


def _env_value(value: str) -> str:
    """A value for `export`: literal, or double-quoted where it expands a variable when sourced (${SLURM_JOB_ID})."""
    if "${" not in value:
        return _q(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`") + '"'


def nccl_environment(host: GpuDirectHost, uds_path: Optional[str] = None) -> str:
    """The NCCL environment jobs source on a node of `host`'s flavour (what the env file holds); {uds_path} is `uds_path`."""
    uds = uds_path or host.uds_path or ""
    lines = [f"# NCCL over GPUDirect-{host.flavor.value.upper()} (ai-clusters; catalog node_setup). Source it: . FILE"]
    lines += list(host.nccl.setup)
    lines += [f"export {k}={_env_value(v.replace(UDS, uds))}" for k, v in host.nccl.env.items()]
    if host.nccl.library_dir:
        lines.append(f'export LD_LIBRARY_PATH={host.nccl.library_dir}:"${{LD_LIBRARY_PATH:-}}"')
    return "\n".join(lines) + "\n"


def nccl_env_step(host: GpuDirectHost, uds_path: Optional[str] = None) -> str:
    path = catalog().data.node_setup.env_file  # type: ignore[union-attr]
    folder = path.rsplit("/", 1)[0]
    return (
        f"\nstep_nccl_env() {{\n  mkdir -p {_q(folder)}\n  cat > {_q(path)} <<'AI_CLUSTERS_ENV'\n{nccl_environment(host, uds_path).rstrip()}\nAI_CLUSTERS_ENV\n"
        f"  chmod 0644 {_q(path)}\n}}\nstep nccl-env step_nccl_env\n"
    )


def _client_step(kind: str, os: Optional[str]) -> str:
    """Installs the client of a storage kind (from the catalog, for the image's OS), unless it is there."""
    facts = catalog().data.node_setup
    assert facts is not None
    probe = {"filestore": "mount.nfs", "gcsfuse": "gcsfuse", "lustre": "mount.lustre", "parallelstore": "dfuse"}[kind]
    clients = [c for c in facts.storage_clients if c.kind == kind and (os is None or os in c.os)]
    if os is not None and not clients:
        return f"\nstep_{kind}_client() {{\n  log 'no {kind} client for {os} in the catalog'; return 1\n}}\nstep {kind}-client step_{kind}_client\n"
    apt = next((c for c in clients if not c.builtin), None)
    body = [f"  have {probe} && return 0"]
    if any(c.builtin for c in clients):
        body.append('  [ "$(os_id)" = cos ] && return 0  # built into Container-Optimized OS')
    if apt is not None:
        body += _repo_lines(apt.repositories)
        body.append(f"  apt_install {' '.join(_package(p) for p in apt.packages)}")
        body += [f"  modprobe {_q(m)}" for m in apt.kernel_modules]
    if kind == "parallelstore":
        body.append("  systemctl enable --now daos_agent 2>/dev/null || true")
    return f"\nstep_{kind}_client() {{\n" + "\n".join(body) + f"\n}}\nstep {kind}-client step_{kind}_client\n"


def _package(name: str) -> str:
    """A package name for the shell: `{kernel}` becomes the running kernel's release."""
    if "{kernel}" in name:
        return '"' + name.replace("{kernel}", "$(uname -r)") + '"'
    return _q(name)


def _mount_step(index: int, mount: Mapping[str, str]) -> str:
    kind = mount["kind"]
    point = _q(mount["mount_point"])
    source = mount["source"]
    opts = mount.get("options") or "defaults"
    if kind == "filestore":
        body = f"  mount -t nfs -o {_q(opts)} {_q(source)} {point}"
    elif kind == "lustre":
        body = f"  mount -t lustre -o {_q(opts)} {_q(source)} {point}"
    elif kind == "parallelstore":
        body = (
            "  # The DAOS agent pointed at the Parallelstore access points, then dfuse.\n"
            f"  mkdir -p /etc/daos && printf 'access_points: [%s]\\ntransport_config:\\n  allow_insecure: true\\n' {_q(source)} > /etc/daos/daos_agent.yml\n"
            "  systemctl restart daos_agent\n"
            f"  dfuse -m {point} --pool default-pool --container default-container --multi-user"
        )
    elif kind == "gcsfuse":
        body = f"  gcsfuse -o allow_other --implicit-dirs --file-cache-max-size-mb=-1 {_q(source)} {point}"
    elif kind == "hyperdisk-ml":
        body = f"  mount -o {_q(opts)} /dev/disk/by-id/google-models {point}"
    elif kind == "disk":
        # A block device by path (TPU VM data disks have no device name): ext4 on first use unless read-only.
        writable = "ro" not in opts.split(",")
        body = f"  dev={_q(source)}\n  for _ in $(seq 60); do [ -b \"$dev\" ] && break; sleep 2; done"
        if writable:
            body += '\n  blkid "$dev" >/dev/null 2>&1 || mkfs.ext4 -m 0 -E lazy_itable_init=0,lazy_journal_init=0,discard "$dev"'
        body += f'\n  mount -o {_q(opts)} "$dev" {point}'
        if writable:
            body += f"\n  chmod a+w {point}"
    else:
        raise ValueError(f"unknown mount kind {kind!r}")
    name = f"mount-{kind}-{index}"
    fn = name.replace("-", "_")
    return (
        f"\n# {kind}: {source} at {mount['mount_point']}\n{fn}() {{\n  mountpoint -q {point} && return 0\n  mkdir -p {point}\n{body}\n}}\n"
        f"step {name} {fn}\n"
    )


CLIENT_KINDS = ("filestore", "gcsfuse", "lustre", "parallelstore")


def startup_script(node: NodeScript) -> str:
    """The node's start-up script: driver, GPUDirect, local SSD, storage clients, mounts, then its own commands."""
    parts = [HEADER]
    for name, lines in node.first_steps:
        fn = "step_" + name.replace("-", "_")
        parts.append(f"\n{fn}() {{\n" + "\n".join(f"  {line}" for line in lines) + f"\n}}\nstep {name} {fn}\n")
    if node.install_driver:
        parts.append(INSTALLER_DRIVER)
    if node.gpudirect is not None:
        parts.append(gpudirect_steps(node.gpudirect, gpus=node.gpus, rxdm_at_boot=node.rxdm_at_boot, image_build=node.image_build))
    if node.local_ssd:
        parts.append(LOCAL_SSD)
    mounts = [m for m in node.mounts if m["kind"] not in node.skip_kinds]
    for kind in dict.fromkeys(m["kind"] for m in mounts):
        if kind in CLIENT_KINDS:
            parts.append(_client_step(kind, node.os))
    parts.extend(_mount_step(i, m) for i, m in enumerate(mounts))
    if node.extra:
        parts.append("\n" + node.extra.rstrip() + "\n")
    parts.append(FOOTER)
    return "".join(parts)


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


__all__ = [
    "DOCKER_SIGNIN",
    "NodeScript",
    "docker_run",
    "environment_block",
    "gpudirect_steps",
    "nccl_environment",
    "package_names",
    "shell_word",
    "startup_script",
]
