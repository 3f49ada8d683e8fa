"""Start a Pulumi plugin program the way the Pulumi CLI does, and reach it over gRPC.

A plugin (policy pack, component provider) is a program that serves a gRPC service on 127.0.0.1
and prints its port as the first line of stdout. `PluginProcess` runs it, reads that line, opens
the channel and stops the process on exit; subclasses put the service's stub on top.
"""

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Optional, Sequence

import grpc

MAX_MESSAGE = 400 * 1024 * 1024  # a provider's schema or a whole stack fits


class PluginError(RuntimeError):
    """The plugin could not be started or answered with an error."""


class PluginProcess:
    """A running plugin program with a gRPC channel to the port it printed."""

    kind = "plugin"
    """What the plugin is, for error messages."""
    error: type[PluginError] = PluginError
    """The exception raised when it does not start."""

    def __init__(self, main: Path, args: Sequence[str] = (), python: Optional[str] = None, start_timeout: float = 60.0):
        self.main = Path(main)
        self.args = list(args)
        self.python = python or sys.executable
        self.start_timeout = start_timeout
        self.proc: Optional[subprocess.Popen] = None
        self.channel: Optional[grpc.Channel] = None
        self.port: Optional[int] = None

    def __enter__(self) -> "PluginProcess":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> grpc.Channel:
        """Run the program, wait for the port it prints, connect."""
        if not self.main.is_file():
            raise self.error(f"no {self.kind} at {self.main.parent}")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [self.python, "-u", str(self.main), *self.args],
            cwd=self.main.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.start_timeout)
        text = (line[0] if line else "").strip()
        if not text.isdigit():
            if self.proc.poll() is None:
                self.proc.kill()
            stderr = self.proc.stderr.read() if self.proc.stderr else ""
            self.close()
            raise self.error(f"the {self.kind} did not print its port: {text or stderr.strip()[-2000:]}")
        self.port = int(text)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}", options=[("grpc.max_receive_message_length", MAX_MESSAGE)])
        grpc.channel_ready_future(self.channel).result(timeout=self.start_timeout)
        return self.channel

    def close(self) -> None:
        """Close the channel and stop the program."""
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream:
                    stream.close()
            self.proc = None


__all__ = ["PluginError", "PluginProcess"]
