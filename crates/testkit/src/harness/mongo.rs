//! Fresh MongoDB databases for tests (filled in by the real-stores work).
