"""Run a generated node start-up script for real, in a sandbox, with the commands it calls stubbed.

The script runs with bash in a private root (a user and mount namespace, `unshare -Urm`, then chroot): the
host's /usr, /bin and /lib read-only, a fresh /etc whose os-release says which OS the node boots, and empty
writable /var, /run, /opt, /mnt, /tmp. Every command that would touch the machine (apt-get, docker, modprobe,
mount, dkms, curl, iptables, nvidia-smi …) is a stub first on PATH that records its arguments and succeeds,
unless the test makes it fail; `apt-get install` "installs" the stubs of the commands a package provides, so
a client installed from its repository is then found by the mount that needs it. Files the script writes
(apt sources, the NCCL environment, the RxDM topology) stay in the sandbox for the test to read.
"""

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

STUBBED = (
    "apt-get", "curl", "gpg", "docker", "modprobe", "mount", "mountpoint", "dkms", "iptables", "nvidia-smi",
    "systemctl", "lspci", "logger", "cos-extensions", "docker-credential-gcr", "gcloud", "mkfs.ext4", "blkid",
    "dpkg-deb", "python3", "sleep", "readlink",
)
PROVIDES = {  # what `apt-get install PACKAGE` makes available
    "gcsfuse": ["gcsfuse"],
    "nfs-common": ["mount.nfs"],
    "lustre-client-utils": ["mount.lustre"],
    "daos-client": ["dfuse", "daos_agent"],
    "docker.io": ["docker"],
    "nvidia-container-toolkit": ["nvidia-ctk"],
    "mdadm": ["mdadm"],
}
OS_RELEASE = {
    "ubuntu-2404": 'ID=ubuntu\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\nUBUNTU_CODENAME=noble\n',
    "ubuntu-2204": 'ID=ubuntu\nVERSION_ID="22.04"\nVERSION_CODENAME=jammy\nUBUNTU_CODENAME=jammy\n',
    "cos": 'ID=cos\nVERSION_ID=105\nNAME="Container-Optimized OS"\n',
}

STUB = r"""#!/bin/bash
# A stub: records its name and arguments, then does what the sandbox says.
name=$(basename "$0")
printf '%s\n' "$name $*" >> /sandbox/calls.log
for bad in ${SANDBOX_FAIL:-}; do
  case "$name $*" in $bad*) exit 1 ;; esac
done
case "$name" in
  apt-get)
    if [ "${1:-}" = install ] || [ "${1:-}" = download ]; then
      for p in "$@"; do
        for bin in $(grep -h "^${p%%=*} " /sandbox/provides 2>/dev/null | cut -d' ' -f2-); do
          cp /sandbox/stub "/sandbox/installed/$bin"; chmod +x "/sandbox/installed/$bin"
        done
      done
    fi ;;
  curl)
    data=""; url=""; prev=""
    for a in "$@"; do [ "$prev" = --data ] && data=$a; case "$a" in http*) url=$a ;; esac; prev=$a; done
    case "$url" in
      *guest-attributes/ai-clusters/*) printf '%s %s\n' "${url##*/ai-clusters/}" "$data" >> /sandbox/reports.log ;;
      *nvidia-container-toolkit.list) echo 'deb https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /' ;;
      *) echo "content-of-$url" ;;
    esac ;;
  gpg) cat > /dev/null; out=""; prev=""; for a in "$@"; do [ "$prev" = -o ] && out=$a; prev=$a; done; [ -n "$out" ] && echo key > "$out" ;;
  mountpoint) exit 1 ;;
  mount)  # a bind of a PCI device shows its resource files, as the real one does
    if [ "${1:-}" = --bind ]; then case "${2:-}" in /sys/*) touch "${3:-/nonexistent}/resource0" ;; esac; fi ;;
  modprobe)
    if [ "${1:-}" = import-helper ] && [ -n "${SANDBOX_NO_MODULE:-}" ] && [ ! -f /sandbox/dkms-installed ]; then exit 1; fi ;;
  docker)
    if [ "${1:-}" = logs ]; then echo "${SANDBOX_RXDM_LOG:-Buffer manager initialization complete}"; fi
    if [ "${1:-}" = run ]; then
      for a in "$@"; do case "$a" in *nccl-plugin*) mkdir -p /var/lib/tcpx/lib64 /var/lib/tcpxo/lib64 ;; esac; done
    fi ;;
  readlink) echo "/sys/devices/pci0000:00/${2##*/}" ;;  # the PCI device's sysfs folder
  lspci) printf '0000:94:00.0 Non-VGA unclassified device [0000]: Google, Inc. Device [1ae0:0084]\n' ;;
  dpkg-deb) mkdir -p usr/src/dmabuf-import-helper-1.1 && echo 'MODULE_IMPORT_NS(DMA_BUF);' > usr/src/dmabuf-import-helper-1.1/import-helper.c ;;
  dkms)
    [ "${1:-}" = install ] && touch /sandbox/dkms-installed
    if [ "${1:-}" = build ] && grep -q 'MODULE_IMPORT_NS(DMA_BUF)' /usr/src/dmabuf-import-helper-1.1/import-helper.c 2>/dev/null \
       && [ -n "${SANDBOX_NEW_KERNEL:-}" ]; then exit 10; fi ;;
esac
exit 0
"""


@dataclass
class Run:
    """What a sandboxed run did."""

    returncode: int
    output: str
    calls: list[str]
    reports: dict[str, str]
    root: Path

    def called(self, prefix: str) -> list[str]:
        return [c for c in self.calls if c.startswith(prefix)]

    def file(self, path: str) -> str:
        return (self.root / path.lstrip("/")).read_text()


def available() -> Optional[str]:
    """Why the sandbox cannot run here (None when it can)."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(["unshare", "-Urm", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"user namespaces are not allowed here: {probe.stderr.strip()}"
    return None


def run_script(script: str, workdir: Path, *, system: str = "ubuntu-2404", fail: tuple[str, ...] = (), env: Optional[dict] = None) -> Run:
    """Run `script` in a fresh sandbox under `workdir`; `fail` lists "command args" prefixes whose stub fails."""
    root = workdir / "root"
    box = root / "sandbox"
    for d in ("etc", "var", "run", "opt", "mnt", "tmp", "home", "root", "srv", "dev", "proc", "usr", "sandbox/installed"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for link in ("bin", "sbin", "lib", "lib64", "lib32", "libx32"):
        host = Path("/") / link
        if host.is_symlink():
            (root / link).symlink_to(os.readlink(host))
        elif host.is_dir():
            (root / link).mkdir(exist_ok=True)
    (root / "etc" / "os-release").write_text(OS_RELEASE[system])
    for name in ("passwd", "group", "nsswitch.conf"):
        if Path("/etc", name).exists():
            shutil.copy(Path("/etc", name), root / "etc" / name)
    if Path("/etc/alternatives").is_dir():  # awk, editor … are links through it
        shutil.copytree("/etc/alternatives", root / "etc" / "alternatives", symlinks=True, dirs_exist_ok=True)
    (box / "stub").write_text(STUB)
    (box / "stub").chmod(0o755)
    (box / "provides").write_text("".join(f"{pkg} {' '.join(bins)}\n" for pkg, bins in PROVIDES.items()))
    stubs = box / "stubs"
    stubs.mkdir(exist_ok=True)
    for name in STUBBED:
        shutil.copy(box / "stub", stubs / name)
        (stubs / name).chmod(0o755)
    (box / "calls.log").write_text("")
    (box / "reports.log").write_text("")
    (root / "script.sh").write_text(script)

    binds = [d for d in ("usr", "bin", "sbin", "lib", "lib64", "lib32", "libx32") if (Path("/") / d).is_dir() and not (Path("/") / d).is_symlink()]
    setup = [f"mount --bind /{d} {shlex.quote(str(root / d))} && mount -o remount,bind,ro {shlex.quote(str(root / d))}" for d in binds]
    src = workdir / "usr-src"
    src.mkdir(exist_ok=True)
    if Path("/usr/src").is_dir():
        setup.append(f"mount --bind {shlex.quote(str(src))} {shlex.quote(str(root / 'usr/src'))}")
    setup += [
        f"mount -t tmpfs none {shlex.quote(str(root / 'dev'))}",
        f"touch {shlex.quote(str(root / 'dev/null'))} && mount --bind /dev/null {shlex.quote(str(root / 'dev/null'))}",
        f"mount -t proc proc {shlex.quote(str(root / 'proc'))} 2>/dev/null || true",
    ]
    variables = {
        "PATH": "/sandbox/stubs:/sandbox/installed:/usr/sbin:/usr/bin:/sbin:/bin",
        "SANDBOX_FAIL": " ".join(f.replace(" ", "?") for f in fail),  # one case pattern per failure, spaces as '?'
        **(env or {}),
    }
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in variables.items())
    inner = " && ".join(setup) + f" && chroot {shlex.quote(str(root))} /usr/bin/env -i {exports} /bin/bash /script.sh"
    done = subprocess.run(["unshare", "-Urm", "--propagation", "private", "bash", "-c", inner], capture_output=True, text=True, timeout=120)
    calls = [line for line in (box / "calls.log").read_text().splitlines() if line]
    reports = {}
    for line in (box / "reports.log").read_text().splitlines():
        key, _, value = line.partition(" ")
        reports[key] = value
    return Run(done.returncode, done.stdout + done.stderr, calls, reports, root)
