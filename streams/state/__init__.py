"""Per-store state of a worker: segments in RocksDB (``segments``) and what is kept in
memory beside them (``index``): which stores each partition holds, their versions, and
what maintenance is due."""
