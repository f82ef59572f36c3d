"""A mosquitto of our own on a loopback port, for tests and benchmarks (Debian's package):
open to anyone, or with users under the ACL the project ships, as a chain's broker runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from hub.ports import free_port, wait_port

ACL = Path(__file__).resolve().parents[1] / "config" / "mosquitto" / "laoke.acl"


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(found).exists():
        raise RuntimeError("mosquitto is missing: ./scripts/bootstrap installs it")
    return found


def password_file(path: Path, users: dict[str, str]) -> None:
    """mosquitto's password file for these users (name: password), hashed by mosquitto's
    own tool in one run however many there are (a chain's thousand stores)."""
    path.write_text("".join(f"{user}:{password}\n" for user, password in users.items()))
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    subprocess.run([tool, "-U", str(path)], check=True)


class Mosquitto:
    def __init__(self, folder: Path, port: int | None = None,
                 tls: tuple[Path, Path, Path] | None = None, extra: str = "",
                 users: dict[str, str] | None = None) -> None:
        """`tls`: (CA, certificate, key) PEM files for a TLS listener (mqtts://); `extra`:
        more mosquitto.conf lines (a limit of the shipped configs); `users` (name:
        password): no anonymous access, and the shipped ACL (config/mosquitto/laoke.acl)."""
        self.folder = folder
        self.extra = extra
        self.users = users
        self.port = port or free_port()
        self.tls = tls
        self.url = f"{'mqtts' if tls else 'mqtt'}://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10) -> Mosquitto:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "mosquitto.conf"
        # `user root`: started as root, mosquitto would otherwise drop to a user that cannot
        # read this folder.
        text = (f"per_listener_settings false\nlistener {self.port} 127.0.0.1\n"
                "persistence false\nuser root\nmax_queued_messages 100000\n")
        if self.users is None:
            text += "allow_anonymous true\n"
        else:
            password_file(self.folder / "passwd", self.users)
            text += (f"allow_anonymous false\npassword_file {self.folder / 'passwd'}\n"
                     f"acl_file {ACL}\n")
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
