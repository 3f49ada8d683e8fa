"""The component provider and Google's API clients import side by side, in either order."""

import subprocess
import sys

import pytest

PROVIDER = "import ai_clusters.tooling.provider, pulumi.provider.server"
GOOGLE = "import google.api_core.exceptions, google.rpc.status_pb2"


@pytest.mark.parametrize("first, second", [(PROVIDER, GOOGLE), (GOOGLE, PROVIDER)], ids=["provider-first", "google-first"])
def test_both_load_in_one_process(first, second):
    check = "from pulumi.runtime.proto import status_pb2; s = status_pb2.Status(code=3, message='m'); s.details.add(); print(type(s).DESCRIPTOR.full_name)"
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", f"{first}\n{second}\n{check}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "google.rpc.Status"


def test_without_the_alias_they_clash():
    """Why `share_rpc_status` exists: Pulumi's copy of google.rpc.Status and Google's cannot both register."""
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", f"import pulumi.provider.server\n{GOOGLE}"], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "duplicate symbol 'google.rpc.Status'" in done.stderr
