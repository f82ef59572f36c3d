"""Member cards and scanners: frame parsers (pure), the reader service (serial I/O) and
simulated readers that need no hardware."""
