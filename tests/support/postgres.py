"""The tests' PostgreSQL: one throwaway server per test process (sync.localpostgres), a
fresh database in it for each test that asks."""

from sync.localpostgres import Postgres, postgres_bin

__all__ = ["Postgres", "postgres_bin"]
