"""A mosquitto of our own on a loopback port, for tests and benchmarks (Debian's package)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from hub.ports import free_port, wait_port


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(found).exists():
        raise RuntimeError("mosquitto is missing: ./scripts/bootstrap installs it")
    return found


class Mosquitto:
    def __init__(self, folder: Path, port: int | None = None,
                 tls: tuple[Path, Path, Path] | None = None, extra: str = "") -> None:
        """`tls`: (CA, certificate, key) PEM files for a TLS listener (mqtts://); `extra`:
        more mosquitto.conf lines (a limit of the shipped configs)."""
        self.folder = folder
        self.extra = extra
        self.port = port or free_port()
        self.tls = tls
        self.url = f"{'mqtts' if tls else 'mqtt'}://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10) -> Mosquitto:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "mosquitto.conf"
        # `user root`: started as root, mosquitto would otherwise drop to a user that cannot
        # read this folder.
        text = (f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                "persistence false\nuser root\nmax_queued_messages 100000\n")
        if self.tls:
            ca, cert, key = self.tls
            text += f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
        text += self.extra
        config.write_text(text)
        self.process = subprocess.Popen([mosquitto_binary(), "-c", str(config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, timeout)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
