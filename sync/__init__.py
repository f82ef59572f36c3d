"""Store <-> HQ replication over MQTT (to come)."""
