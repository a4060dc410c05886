"""A local S3-compatible server for tests and benchmarks: s3proxy (Maven Central's
``org.gaul:s3proxy`` jar with its dependencies) on the machine's Java, keeping objects in
a folder (the jclouds filesystem provider), with SigV4 credentials of its own.

``python -m storemon.locals3 install`` fetches the jar (``.ci/setup`` does).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import BinaryIO, NamedTuple

from streams.settings import ROOT

POM = Path(__file__).with_name("s3proxy.pom.xml")
VERSION = "2.6.0"
IDENTITY, CREDENTIAL = "storemon", "storemon-local-secret"


class S3Error(RuntimeError):
    """The local S3 server could not be installed or started."""


class Endpoint(NamedTuple):
    """Where the server answers, and its credentials."""

    url: str
    access_key_id: str
    secret_access_key: str


def jar(local_dir: Path = ROOT / ".local") -> Path:
    """Where the jar is once installed."""
    return local_dir / "s3proxy" / f"s3proxy-{VERSION}-jar-with-dependencies.jar"


def install(local_dir: Path = ROOT / ".local") -> Path:
    """Fetch the jar with Maven (once); its path."""
    target = jar(local_dir)
    if target.exists():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise S3Error("Maven (mvn) is not on PATH: install it, e.g. apt-get install maven")
    cmd = [
        mvn, "-q", "-B", "-f", str(POM), f"-Dmaven.repo.local={local_dir / 'm2'}",
        "dependency:copy-dependencies", f"-DoutputDirectory={target.parent}",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not target.exists():
        raise S3Error(f"Maven could not fetch s3proxy {VERSION}: {result.stdout[-2000:]}")
    return target


class LocalS3:
    """One s3proxy process on ``port``, its objects under ``folder``."""

    def __init__(self, folder: Path, port: int, local_dir: Path = ROOT / ".local") -> None:
        self.folder = folder
        self.port = port
        self.local_dir = local_dir
        self.endpoint = Endpoint(f"http://127.0.0.1:{port}", IDENTITY, CREDENTIAL)
        self._process: subprocess.Popen[bytes] | None = None
        self._log: BinaryIO | None = None

    def up(self, timeout_s: float = 60.0) -> Endpoint:
        """Start it; return once it answers."""
        path = install(self.local_dir)
        (self.folder / "objects").mkdir(parents=True, exist_ok=True)
        config = self.folder / "s3proxy.conf"
        config.write_text(
            f"s3proxy.endpoint={self.endpoint.url}\n"
            "s3proxy.authorization=aws-v2-or-v4\n"
            f"s3proxy.identity={IDENTITY}\ns3proxy.credential={CREDENTIAL}\n"
            "jclouds.provider=filesystem\n"
            f"jclouds.filesystem.basedir={self.folder / 'objects'}\n"
        )
        self._log = (self.folder / "s3proxy.log").open("wb")
        self._process = subprocess.Popen(
            ["java", "-jar", str(path), "--properties", str(config)],
            stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise S3Error(f"s3proxy exited; see {self.folder / 's3proxy.log'}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self.endpoint
            time.sleep(0.2)
        raise S3Error(f"s3proxy did not answer in {timeout_s:.0f} s")

    def down(self) -> None:
        """Stop it."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None


if __name__ == "__main__":
    if sys.argv[1:] == ["install"]:
        print(install())
    else:
        print("usage: python -m storemon.locals3 install", file=sys.stderr)
        sys.exit(2)
