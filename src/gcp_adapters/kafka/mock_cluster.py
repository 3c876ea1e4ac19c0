"""librdkafka's in-process mock Kafka cluster, driven through ctypes.

The mock cluster is a set of Kafka-protocol listeners on 127.0.0.1 that run inside this process,
in a thread of the librdkafka bundled with confluent-kafka. Real clients (any process that can
reach 127.0.0.1) connect to it as to a broker. Its C API (`rdkafka_mock.h`) is experimental and
outside librdkafka's API/ABI guarantees, so this is the ONE module that uses it: every ctypes
declaration is here, checked against the library when it is first loaded.

Limits worth knowing: no durability (all in memory), a partition keeps only about 14k messages
(~5 MB) and silently drops older ones, no CreateTopics (topics auto-create with the default
partition count unless created here first), transactions and consumer groups are simplified.
Development, demos and tests only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import confluent_kafka

from gcp_adapters.closing import ClosedOnExit

ALL_BROKERS: Final = -1
"""Pass as `broker_id` to `broker_down` / `broker_up` to act on every broker."""

PRODUCE_API_KEY: Final = 0
FETCH_API_KEY: Final = 1
METADATA_API_KEY: Final = 3

_RD_KAFKA_PRODUCER: Final = 0  # rd_kafka_type_t RD_KAFKA_PRODUCER
_RD_KAFKA_CONF_OK: Final = 0  # rd_kafka_conf_res_t RD_KAFKA_CONF_OK
_ERRSTR_SIZE: Final = 512
_INT16_MAX: Final = 2**15 - 1

_P = ctypes.c_void_p


class MockClusterError(Exception):
    """The mock cluster refused an operation; `code` is librdkafka's rd_kafka_resp_err_t."""

    def __init__(self, message: str, code: int | None = None, name: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.name = name


@dataclass(frozen=True)
class MockRequest:
    """One request a mock broker received (recorded while request tracking is on)."""

    broker_id: int
    api_key: int
    timestamp_us: int


class _Library:
    """The librdkafka shared library with the signatures of the functions this module calls.

    C signatures (librdkafka 2.x, rdkafka.h and rdkafka_mock.h):
      rd_kafka_conf_t *rd_kafka_conf_new(void)
      rd_kafka_conf_res_t rd_kafka_conf_set(rd_kafka_conf_t *, const char *name,
                                            const char *value, char *errstr, size_t)
      void rd_kafka_conf_destroy(rd_kafka_conf_t *)
      rd_kafka_t *rd_kafka_new(rd_kafka_type_t, rd_kafka_conf_t *, char *errstr, size_t)
      void rd_kafka_destroy(rd_kafka_t *)
      const char *rd_kafka_err2name(rd_kafka_resp_err_t)
      rd_kafka_mock_cluster_t *rd_kafka_mock_cluster_new(rd_kafka_t *, int broker_cnt)
      void rd_kafka_mock_cluster_destroy(rd_kafka_mock_cluster_t *)
      const char *rd_kafka_mock_cluster_bootstraps(const rd_kafka_mock_cluster_t *)
      rd_kafka_resp_err_t rd_kafka_mock_topic_create(rd_kafka_mock_cluster_t *,
                                                     const char *topic, int partition_cnt,
                                                     int replication_factor)
      rd_kafka_resp_err_t rd_kafka_mock_broker_set_down(rd_kafka_mock_cluster_t *, int32_t)
      rd_kafka_resp_err_t rd_kafka_mock_broker_set_up(rd_kafka_mock_cluster_t *, int32_t)
      void rd_kafka_mock_push_request_errors_array(rd_kafka_mock_cluster_t *, int16_t ApiKey,
                                                   size_t cnt,
                                                   const rd_kafka_resp_err_t *errors)
      void rd_kafka_mock_clear_request_errors(rd_kafka_mock_cluster_t *, int16_t ApiKey)
      void rd_kafka_mock_start_request_tracking(rd_kafka_mock_cluster_t *)
      void rd_kafka_mock_stop_request_tracking(rd_kafka_mock_cluster_t *)
      rd_kafka_mock_request_t **rd_kafka_mock_get_requests(rd_kafka_mock_cluster_t *,
                                                          size_t *cntp)
      void rd_kafka_mock_request_destroy_array(rd_kafka_mock_request_t **, size_t)
      int32_t rd_kafka_mock_request_id(rd_kafka_mock_request_t *)
      int16_t rd_kafka_mock_request_api_key(rd_kafka_mock_request_t *)
      int64_t rd_kafka_mock_request_timestamp(rd_kafka_mock_request_t *)
      void rd_kafka_mock_clear_requests(rd_kafka_mock_cluster_t *)
    rd_kafka_resp_err_t, rd_kafka_type_t and rd_kafka_conf_res_t are C enums (int).
    """

    _SIGNATURES: Final[dict[str, tuple[object, list[object]]]] = {
        "rd_kafka_conf_new": (_P, []),
        "rd_kafka_conf_set": (
            ctypes.c_int,
            [_P, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t],
        ),
        "rd_kafka_conf_destroy": (None, [_P]),
        "rd_kafka_new": (_P, [ctypes.c_int, _P, ctypes.c_char_p, ctypes.c_size_t]),
        "rd_kafka_destroy": (None, [_P]),
        "rd_kafka_err2name": (ctypes.c_char_p, [ctypes.c_int]),
        "rd_kafka_mock_cluster_new": (_P, [_P, ctypes.c_int]),
        "rd_kafka_mock_cluster_destroy": (None, [_P]),
        "rd_kafka_mock_cluster_bootstraps": (ctypes.c_char_p, [_P]),
        "rd_kafka_mock_topic_create": (
            ctypes.c_int,
            [_P, ctypes.c_char_p, ctypes.c_int, ctypes.c_int],
        ),
        "rd_kafka_mock_broker_set_down": (ctypes.c_int, [_P, ctypes.c_int32]),
        "rd_kafka_mock_broker_set_up": (ctypes.c_int, [_P, ctypes.c_int32]),
        "rd_kafka_mock_push_request_errors_array": (
            None,
            [_P, ctypes.c_int16, ctypes.c_size_t, ctypes.POINTER(ctypes.c_int)],
        ),
        "rd_kafka_mock_clear_request_errors": (None, [_P, ctypes.c_int16]),
    }
    # Request tracking came later than the rest (librdkafka 2.4+ / 2.5+): optional.
    _TRACKING: Final[dict[str, tuple[object, list[object]]]] = {
        "rd_kafka_mock_start_request_tracking": (None, [_P]),
        "rd_kafka_mock_stop_request_tracking": (None, [_P]),
        "rd_kafka_mock_get_requests": (ctypes.POINTER(_P), [_P, ctypes.POINTER(ctypes.c_size_t)]),
        "rd_kafka_mock_request_destroy_array": (None, [ctypes.POINTER(_P), ctypes.c_size_t]),
        "rd_kafka_mock_request_id": (ctypes.c_int32, [_P]),
        "rd_kafka_mock_request_api_key": (ctypes.c_int16, [_P]),
        "rd_kafka_mock_request_timestamp": (ctypes.c_int64, [_P]),
        "rd_kafka_mock_clear_requests": (None, [_P]),
    }
    # Optional too (librdkafka 2.x): the delay before a new consumer group's first assignment.
    _GROUP_DELAY: Final = "rd_kafka_mock_group_initial_rebalance_delay_ms"

    def __init__(self, path: str) -> None:
        self.path = path
        self._cdll = ctypes.CDLL(path)
        missing = [name for name in self._SIGNATURES if not hasattr(self._cdll, name)]
        if missing:
            raise MockClusterError(
                f"{path} lacks librdkafka's mock cluster API ({', '.join(missing)}); "
                "install confluent-kafka>=2.6 from its wheel"
            )
        self.tracking = all(hasattr(self._cdll, name) for name in self._TRACKING)
        declared = {**self._SIGNATURES, **(self._TRACKING if self.tracking else {})}
        self.group_delay = hasattr(self._cdll, self._GROUP_DELAY)
        if self.group_delay:
            # void rd_kafka_mock_group_initial_rebalance_delay_ms(rd_kafka_mock_cluster_t *,
            #                                                     int32_t delay_ms)
            declared[self._GROUP_DELAY] = (None, [_P, ctypes.c_int32])
        for name, (restype, argtypes) in declared.items():
            function = getattr(self._cdll, name)
            function.restype = restype
            function.argtypes = argtypes
        self._declared = frozenset(declared)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        # Only the declared functions, never a guessed one (nor anything before __init__ ends).
        if name not in self.__dict__.get("_declared", ()):
            raise AttributeError(name)
        function: Callable[..., Any] = getattr(self._cdll, name)
        return function

    def err2name(self, code: int) -> str:
        raw = self.rd_kafka_err2name(code)
        return raw.decode() if isinstance(raw, bytes) else str(code)


def _loaded_librdkafka() -> Iterator[Path]:
    """The librdkafka that confluent-kafka's extension module has mapped (Linux)."""
    maps = Path("/proc/self/maps")
    try:
        lines = maps.read_text().splitlines()
    except OSError:
        return
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and Path(fields[5]).name.startswith("librdkafka"):
            yield Path(fields[5])


def _bundled_librdkafka() -> Iterator[Path]:
    """The copy a confluent-kafka wheel ships next to its package (Linux, macOS, Windows)."""
    package = Path(confluent_kafka.__file__).resolve().parent
    for directory in (package.parent / "confluent_kafka.libs", package / ".dylibs", package):
        for pattern in ("librdkafka*.so*", "librdkafka*.dylib", "librdkafka*.dll"):
            yield from sorted(directory.glob(pattern))


@cache
def _library() -> _Library:
    for path in (*_loaded_librdkafka(), *_bundled_librdkafka()):
        if path.is_file():
            return _Library(str(path))
    system = ctypes.util.find_library("rdkafka")
    if system is None:
        raise MockClusterError("cannot find the librdkafka shared library of confluent-kafka")
    return _Library(system)


def librdkafka_path() -> str:
    """Where the librdkafka whose mock cluster this module drives was loaded from."""
    return _library().path


def _release(library: _Library, cluster: int, handle: int) -> None:
    library.rd_kafka_mock_cluster_destroy(cluster)
    library.rd_kafka_destroy(handle)


class MockCluster(ClosedOnExit):
    """A librdkafka mock Kafka cluster of `num_brokers` brokers (ids 1..N) on 127.0.0.1.

    It lives until `close()` (or the end of a `with` block). Clients connect with
    `bootstrap_servers`; close them before the cluster, or they log connection errors.
    `log_level` is the syslog level of the owning librdkafka handle (3: errors only).
    """

    def __init__(self, num_brokers: int = 1, *, log_level: int = 3) -> None:
        if not 1 <= num_brokers <= 64:
            raise ValueError(f"num_brokers must be between 1 and 64, got {num_brokers}")
        self._library = library = _library()
        self._num_brokers = num_brokers
        self._lock = threading.Lock()
        errstr = ctypes.create_string_buffer(_ERRSTR_SIZE)
        conf = library.rd_kafka_conf_new()
        if not conf:
            raise MockClusterError("rd_kafka_conf_new failed")
        # The handle only owns the cluster; it never connects anywhere, so its warning
        # "No bootstrap.servers configured" is noise: log_level 3 keeps errors only.
        for name, value in (("log_level", str(log_level)), ("client.id", "gcp-mock-cluster")):
            if library.rd_kafka_conf_set(conf, name.encode(), value.encode(), errstr, _ERRSTR_SIZE):
                library.rd_kafka_conf_destroy(conf)
                raise MockClusterError(f"rd_kafka_conf_set {name}: {errstr.value.decode()}")
        handle = library.rd_kafka_new(_RD_KAFKA_PRODUCER, conf, errstr, _ERRSTR_SIZE)
        if not handle:  # on failure the conf is still ours to free
            library.rd_kafka_conf_destroy(conf)
            raise MockClusterError(f"rd_kafka_new: {errstr.value.decode()}")
        cluster = library.rd_kafka_mock_cluster_new(handle, num_brokers)
        if not cluster:
            library.rd_kafka_destroy(handle)
            raise MockClusterError("rd_kafka_mock_cluster_new failed")
        self._handle: int | None = int(handle)
        self._cluster: int | None = int(cluster)
        raw = library.rd_kafka_mock_cluster_bootstraps(cluster)
        self._bootstrap_servers = raw.decode() if isinstance(raw, bytes) else ""
        # A cluster dropped without close() is still released when collected (not at exit:
        # other clients may still be talking to it while the interpreter shuts down).
        self._finalizer = weakref.finalize(self, _release, library, self._cluster, self._handle)
        # Typeshed's finalize lists no `atexit` slot for some mypy versions; it is documented.
        self._finalizer.atexit = False  # type: ignore[misc,unused-ignore]

    # -- queries ---------------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        """`host:port,host:port,...` of the brokers, for a client's `bootstrap.servers`."""
        return self._bootstrap_servers

    @property
    def num_brokers(self) -> int:
        return self._num_brokers

    @property
    def broker_ids(self) -> range:
        return range(1, self._num_brokers + 1)

    @property
    def closed(self) -> bool:
        return self._cluster is None

    # -- topics ----------------------------------------------------------------------------

    def create_topic(self, name: str, partitions: int, replication_factor: int = 1) -> None:
        """Create `name` (the mock has no CreateTopics: this is how to choose partitions).

        Raises MockClusterError (name TOPIC_ALREADY_EXISTS, ...) when the cluster refuses.
        """
        if not name:
            raise ValueError("topic name must not be empty")
        if partitions < 1:
            raise ValueError(f"partitions must be at least 1, got {partitions}")
        if not 1 <= replication_factor <= self._num_brokers:
            raise ValueError(
                f"replication_factor must be between 1 and {self._num_brokers}, "
                f"got {replication_factor}"
            )
        with self._lock:
            err = self._library.rd_kafka_mock_topic_create(
                self._live(), name.encode(), partitions, replication_factor
            )
        self._check(err, f"create topic {name!r}")

    # -- faults ----------------------------------------------------------------------------

    def broker_down(self, broker_id: int) -> None:
        """Disconnect broker `broker_id` (or ALL_BROKERS) and refuse new connections.

        Partition leadership does not move: what that broker leads is unavailable until
        `broker_up`.
        """
        self._broker_call("rd_kafka_mock_broker_set_down", broker_id)

    def broker_up(self, broker_id: int) -> None:
        """Let broker `broker_id` (or ALL_BROKERS) accept connections again."""
        self._broker_call("rd_kafka_mock_broker_set_up", broker_id)

    def push_request_errors(self, api_key: int, errors: Sequence[int]) -> None:
        """Fail the next len(errors) requests of `api_key` (0: Produce) with these codes.

        Codes are Kafka protocol errors, e.g. confluent_kafka.KafkaError.NOT_LEADER_FOR_PARTITION
        or REQUEST_TIMED_OUT; KafkaError._TRANSPORT makes the broker drop the connection.
        The errors form one cluster-wide stack, consumed in order.
        """
        self._check_api_key(api_key)
        codes = [int(code) for code in errors]
        if not codes:
            return
        array = (ctypes.c_int * len(codes))(*codes)
        with self._lock:
            self._library.rd_kafka_mock_push_request_errors_array(
                self._live(), api_key, len(codes), array
            )

    def clear_request_errors(self, api_key: int) -> None:
        """Forget errors pushed for `api_key` that no request has consumed yet."""
        self._check_api_key(api_key)
        with self._lock:
            self._library.rd_kafka_mock_clear_request_errors(self._live(), api_key)

    # -- request tracking ------------------------------------------------------------------

    def start_request_tracking(self) -> None:
        """Record every request the brokers receive, for `requests()`.

        Raises MockClusterError where the librdkafka predates request tracking.
        """
        self._check_tracking()
        with self._lock:
            self._library.rd_kafka_mock_start_request_tracking(self._live())

    def stop_request_tracking(self) -> None:
        self._check_tracking()
        with self._lock:
            self._library.rd_kafka_mock_stop_request_tracking(self._live())

    def requests(self) -> list[MockRequest]:
        """The requests recorded since tracking started (or the last `clear_requests`)."""
        self._check_tracking()
        library = self._library
        count = ctypes.c_size_t(0)
        with self._lock:
            array = library.rd_kafka_mock_get_requests(self._live(), ctypes.byref(count))
        if not array:
            return []
        try:
            return [
                MockRequest(
                    broker_id=int(library.rd_kafka_mock_request_id(array[i])),
                    api_key=int(library.rd_kafka_mock_request_api_key(array[i])),
                    timestamp_us=int(library.rd_kafka_mock_request_timestamp(array[i])),
                )
                for i in range(count.value)
            ]
        finally:
            library.rd_kafka_mock_request_destroy_array(array, count.value)

    def clear_requests(self) -> None:
        self._check_tracking()
        with self._lock:
            self._library.rd_kafka_mock_clear_requests(self._live())

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the brokers and free the cluster. Idempotent."""
        with self._lock:
            if self._cluster is None:
                return
            self._cluster = None
            self._handle = None
            self._finalizer()

    def __repr__(self) -> str:
        state = "closed" if self.closed else self._bootstrap_servers
        return f"MockCluster({self._num_brokers} brokers, {state})"

    # -- internals -------------------------------------------------------------------------

    def _live(self) -> int:
        if self._cluster is None:
            raise MockClusterError("the mock cluster is closed")
        return self._cluster

    def _broker_call(self, function: str, broker_id: int) -> None:
        if broker_id != ALL_BROKERS and broker_id not in self.broker_ids:
            raise ValueError(
                f"broker_id must be ALL_BROKERS (-1) or one of 1..{self._num_brokers}, "
                f"got {broker_id}"
            )
        with self._lock:
            err = getattr(self._library, function)(self._live(), broker_id)
        self._check(err, f"{function.removeprefix('rd_kafka_mock_')}({broker_id})")

    def set_group_initial_rebalance_delay(self, milliseconds: int) -> None:
        """How long a new consumer group waits for more members before its first assignment
        (the mock's default is about 3 s, like Kafka's group.initial.rebalance.delay.ms)."""
        if not 0 <= milliseconds <= 2**31 - 1:
            raise ValueError("milliseconds must be a non-negative int32")
        if not self._library.group_delay:
            raise MockClusterError(f"{self._library.path} cannot set the group rebalance delay")
        with self._lock:
            self._library.rd_kafka_mock_group_initial_rebalance_delay_ms(self._live(), milliseconds)

    def _check_tracking(self) -> None:
        if not self._library.tracking:
            raise MockClusterError(f"{self._library.path} has no mock request tracking")

    @staticmethod
    def _check_api_key(api_key: int) -> None:
        if not 0 <= api_key <= _INT16_MAX:
            raise ValueError(f"api_key must be a Kafka protocol ApiKey (0..{_INT16_MAX})")

    def _check(self, err: object, what: str) -> None:
        code = int(err) if isinstance(err, int) else 0
        if code:
            name = self._library.err2name(code)
            raise MockClusterError(f"{what}: {name}", code=code, name=name)
