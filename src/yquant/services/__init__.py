"""Use cases: the only place that sequences I/O around the pure domain."""
