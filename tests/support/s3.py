"""A real S3 server for the tests: moto's standalone server (``moto_server``, from the dev extra
``moto[server]``) on a free port of 127.0.0.1, started and stopped by the test that needs it.

moto accepts any credentials until told to check them (``require_credentials``), and keeps
everything in memory, so stopping it is the whole clean-up.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config

from tests.support.server import free_port

# moto's own administrator: any key pair works until credentials are required.
ADMIN_CREDENTIALS = {"aws_access_key_id": "moto-admin", "aws_secret_access_key": "moto-admin"}
REGION = "us-east-1"
START_TIMEOUT_S = 10.0


class S3ServerError(RuntimeError):
    """moto_server is missing, exited, or did not answer in time."""


class S3Server:
    """One ``moto_server`` process. ``start()``, use ``endpoint`` and ``client()``, ``stop()``."""

    def __init__(self, log_path: Path | None = None) -> None:
        self.executable = Path(sys.executable).with_name("moto_server")
        self.port = 0
        self.endpoint = ""
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> S3Server:
        if not self.executable.exists():
            raise S3ServerError(
                f"{self.executable} is missing: install the dev extra (moto[server])"
            )
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        command = [str(self.executable), "-H", "127.0.0.1", "-p", str(self.port)]
        if self.log_path is None:
            self.process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
            )
        else:
            with self.log_path.open("wb") as log:
                self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate the server (kill it if it does not exit). Safe to call more than once."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def client(self, service: str = "s3") -> Any:
        """A boto3 client for ``service`` on this server, as moto's administrator."""
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}),
            **ADMIN_CREDENTIALS,
        )

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def require_credentials(self, required: bool) -> None:
        """moto accepts any credentials unless told to check them (against its own IAM)."""
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth",
            data=b"0" if required else b"inf",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            if response.status != 200:
                raise S3ServerError(f"moto reset-auth answered {response.status}")

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                log = self.log_path.read_text() if self.log_path else ""
                raise S3ServerError(f"moto_server exited with {self.process.returncode}: {log}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise S3ServerError(
                        f"moto_server did not answer within {START_TIMEOUT_S} s"
                    ) from None
                time.sleep(0.1)

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
