"""The tests' broker: a real mosquitto on a free loopback port (see sync.localbroker)."""

from sync.localbroker import Mosquitto, mosquitto_binary

__all__ = ["Mosquitto", "mosquitto_binary"]
