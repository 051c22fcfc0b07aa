"""The read side: filtered, sorted, paged reads and aggregates for tables and charts."""
