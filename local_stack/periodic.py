"""The background loop of the emulated services: a thread that does one round of work every period
until stopped. AWS does this work on its own clock, beside the requests: DynamoDB's TTL deletions,
Lambda's polling of a stream and the shutdown of its idle environments, the shipping of the
functions' EMF metrics, CloudWatch's alarm evaluation and the queues' depth metrics, EventBridge's
schedules and CloudWatch Logs' delivery. Each subclass cites the AWS behaviour it emulates."""

from __future__ import annotations

import threading


class Periodic:
    """Subclasses implement ``round()``; an exception is printed and the next round comes."""

    name = "periodic"

    def __init__(self, period: float) -> None:
        self.period = period
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def round(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.round()
            except Exception as exc:  # noqa: BLE001 - keep going, as the service it emulates does
                print(f"{self.name}: {exc!r}")


class Shipper(Periodic):
    """A periodic thread that moves what producers queued into an emulated service, a batch a
    round. Subclasses implement ``_ship()`` (take what is queued, send it) and ``_queued()``;
    :meth:`flush` waits until what was queued so far is shipped, and a stop ships the rest."""

    def __init__(self, period: float) -> None:
        super().__init__(period)
        self._shipping = False  # a round is moving taken items into the service
        self._shipped = threading.Condition()  # notified when a round ends

    def _ship(self) -> None:
        raise NotImplementedError

    def _queued(self) -> bool:
        raise NotImplementedError

    def round(self) -> None:
        with self._shipped:
            self._shipping = True
        try:
            self._ship()
        finally:
            with self._shipped:
                self._shipping = False
                self._shipped.notify_all()

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until what was queued so far is in the service (the next round ships it)."""
        with self._shipped:
            self._shipped.wait_for(lambda: not (self._queued() or self._shipping), timeout)

    def stop(self) -> None:
        super().stop()
        self.round()
