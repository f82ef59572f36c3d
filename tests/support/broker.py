"""The tests' broker: a real mosquitto on a free loopback port (see sync.localbroker), and
one with users under the ACL the project ships, as a chain's broker runs."""

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hub.ports import free_port, wait_port
from sync.localbroker import Mosquitto, mosquitto_binary

ACL = Path(__file__).resolve().parents[2] / "config" / "mosquitto" / "laoke.acl"

__all__ = ["Mosquitto", "acl_broker", "mosquitto_binary"]


@contextmanager
def acl_broker(folder: Path, users: dict[str, str]) -> Iterator[int]:
    """mosquitto with these users (name: password) and config/mosquitto/laoke.acl, no
    anonymous access; yields its port."""
    folder.mkdir(parents=True, exist_ok=True)
    passwd = folder / "passwd"
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    for n, (user, password) in enumerate(users.items()):
        subprocess.run([tool, "-b", *(["-c"] if n == 0 else []), str(passwd), user, password],
                       check=True)
    port = free_port()
    (folder / "m.conf").write_text(
        f"per_listener_settings false\nallow_anonymous false\npassword_file {passwd}\n"
        f"acl_file {ACL}\nlistener {port} 127.0.0.1\npersistence false\nuser root\n")
    process = subprocess.Popen([mosquitto_binary(), "-c", str(folder / "m.conf")],
                               stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield port
    finally:
        process.terminate()
        process.wait(10)
