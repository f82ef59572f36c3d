"""What the tests share: real hubs, brokers, terminals, browsers, network namespaces and
stand-ins for third parties, started and stopped by the tests that need them."""
