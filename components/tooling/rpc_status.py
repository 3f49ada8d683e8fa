"""Let Pulumi's provider server and Google's API clients live in one process.

`pulumi.provider.server` imports Pulumi's own copy of `google.rpc.Status` (registered as the file
`google/protobuf/status.proto`); Google's clients import the same message from
googleapis-common-protos (`google/rpc/status.proto`). Protobuf refuses a symbol defined by two files,
so whichever is imported second fails. `share_rpc_status` makes Pulumi use Google's module: the same
message, the same fields, the same wire format. It must run before `pulumi.provider` is imported.
"""

import sys

PULUMI_STATUS = "pulumi.runtime.proto.status_pb2"


def share_rpc_status() -> bool:
    """Alias Pulumi's status_pb2 to googleapis' one; False when Pulumi's is already loaded (too late)."""
    if PULUMI_STATUS in sys.modules:
        return sys.modules[PULUMI_STATUS].__name__ == "google.rpc.status_pb2"
    import pulumi.runtime.proto as proto
    from google.rpc import status_pb2

    sys.modules[PULUMI_STATUS] = status_pb2
    proto.status_pb2 = status_pb2
    return True


__all__ = ["share_rpc_status"]
