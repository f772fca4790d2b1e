"""The dashboard's web server: the page, its script, the charting library, and the calls the
page makes — the dashboard's widgets, ``GetMetricData`` for their data, and a Logs Insights query
for a log widget's table (run at the emulated CloudWatch Logs).

The page is the template's own ``DashboardBody`` (resolved as CloudFormation resolves its
``!Sub``), drawn with plotly.js served from the pinned ``plotly`` package (nothing is fetched from
the network). Data comes from :func:`local_stack.cloudwatch.metric_data.get_metric_data`: the same
statistics, percentiles and metric math the alarm evaluator uses.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from local_stack.cloudwatch.expressions import UnsupportedExpression
from local_stack.cloudwatch.metric_data import Query, api_results, get_metric_data
from local_stack.cloudwatch.store import UnsupportedStatistic

if TYPE_CHECKING:
    from collections.abc import Callable

    from local_stack.cloudwatch.store import MetricStore
    from local_stack.dashboard.widgets import Widget

STATIC = Path(__file__).with_name("static")
# at most what CloudWatch's console asks for in one GetMetricData call
MAX_QUERIES = 500


def plotly_script() -> Path:
    """plotly.js as the pinned ``plotly`` package ships it."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the plotly package (requirements-dev.txt) is not installed")
    return Path(spec.origin).parent / "package_data" / "plotly.min.js"


FILES = {
    "/": (STATIC / "index.html", "text/html; charset=utf-8"),
    "/static/dashboard.js": (STATIC / "dashboard.js", "text/javascript; charset=utf-8"),
    "/static/dashboard.css": (STATIC / "dashboard.css", "text/css; charset=utf-8"),
}


class DashboardServer:
    def __init__(
        self,
        name: str,
        widgets: list[Widget],
        store: MetricStore,
        alarm_states: Callable[[], dict[str, str]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        logs: Any = None,  # noqa: ANN401 - a boto3 logs client of the emulated endpoint (log widgets)
    ) -> None:
        self.logs = logs
        self.name = name
        self.widgets = widgets
        self.store = store
        self.alarm_states = alarm_states
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="dashboard", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "widgets": [widget.describe() for widget in self.widgets],
            "alarms": self.alarm_states(),
        }

    def metric_data(self, request: dict[str, Any]) -> dict[str, Any]:
        """``GetMetricData``: ``MetricDataQueries``, ``StartTime`` and ``EndTime`` (epoch seconds)."""
        raw = request.get("MetricDataQueries")
        if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_QUERIES:
            raise ValueError(f"MetricDataQueries must hold 1 to {MAX_QUERIES} queries")
        start, end = float(request["StartTime"]), float(request["EndTime"])
        if start >= end:
            raise ValueError("StartTime must be before EndTime")
        queries = [Query.from_api(query) for query in raw]
        series = get_metric_data(self.store, queries, start, end)
        return {"MetricDataResults": api_results(queries, series)}

    def logs_query(self, request: dict[str, Any]) -> dict[str, Any]:
        """A log widget's table: ``StartQuery`` (``logGroupNames``, ``queryString``, ``startTime`` and
        ``endTime`` in epoch seconds), then ``GetQueryResults`` until the query has ended."""
        if self.logs is None:
            raise ValueError("no CloudWatch Logs endpoint")
        started = self.logs.start_query(
            logGroupNames=list(request["logGroupNames"]),
            queryString=str(request["queryString"]),
            startTime=int(request["startTime"]),
            endTime=int(request["endTime"]),
        )
        for _ in range(100):
            answer: dict[str, Any] = self.logs.get_query_results(queryId=started["queryId"])
            if answer["status"] not in ("Scheduled", "Running"):
                break
            time.sleep(0.1)
        return {key: answer.get(key) for key in ("results", "statistics", "status")}


def _handler(dashboard: DashboardServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "LocalDashboard"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: ANN401
            return

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, value: Any) -> None:  # noqa: ANN401
            self._send(status, json.dumps(value).encode(), "application/json")

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/api/dashboard":
                self._json(200, dashboard.describe())
            elif path == "/static/plotly.min.js":
                self._send(200, plotly_script().read_bytes(), "text/javascript; charset=utf-8")
            elif path in FILES:
                file, content_type = FILES[path]
                self._send(200, file.read_bytes(), content_type)
            else:
                self._json(404, {"message": f"no {path}"})

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            if path not in ("/api/GetMetricData", "/api/LogsQuery"):
                self._json(404, {"message": "no such call"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                request = json.loads(self.rfile.read(length) or b"{}")
                if path == "/api/LogsQuery":
                    answer = dashboard.logs_query(request)
                else:
                    answer = dashboard.metric_data(request)
            except ClientError as exc:  # the emulated CloudWatch Logs refused the query: it says why
                self._json(400, {"message": str(exc)})
                return
            except (ValueError, KeyError, TypeError, UnsupportedExpression, UnsupportedStatistic) as exc:
                self._json(400, {"message": f"ValidationError: {exc}"})
                return
            self._json(200, answer)

    return Handler
