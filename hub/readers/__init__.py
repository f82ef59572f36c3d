"""Member cards and scanners: frame parsers (pure) and the reader service (serial I/O)."""
