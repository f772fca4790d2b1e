"""The stream consumer on Lambda's largest batch: 10,000 mixed records."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any

from bench.common import ROOT, best_of, fake_aws_environment, print_table
from sam_template.handlers import LambdaContext, load_handler
from sam_template.model import load_template

RECORDS = 10_000
ROUNDS = 9


def synthetic_event(records: int = RECORDS) -> dict[str, Any]:
    """INSERT, REMOVE and TTL REMOVE in equal thirds, with the images the table really holds."""
    sample = json.loads(Path(ROOT, "tests", "events", "stream_batch.json").read_text(encoding="utf-8"))[
        "Records"
    ]
    kinds = [sample[0], sample[2], sample[3]]  # INSERT, REMOVE, TTL REMOVE
    batch = []
    for index in range(records):
        record = copy.deepcopy(kinds[index % 3])
        stream = record["dynamodb"]
        stream["SequenceNumber"] = f"{4 * 10**20 + index}"
        stream["ApproximateCreationDateTime"] = 1730212321 + index
        image = stream.get("NewImage") or stream["OldImage"]
        image["connectionId"] = {"S": f"conn-{index:06d}="}
        image["createdAt"] = {"N": str(1730212321000 - (index % 7200) * 1000)}
        batch.append(record)
    return {"Records": batch}


def run() -> dict[str, float]:
    fake_aws_environment("bench-connections")
    handler = load_handler(load_template(), "StreamMetricsFunction")
    payload = json.dumps(synthetic_event())
    context = LambdaContext(function_name="bench-stream-metrics", remaining_ms=900_000)

    def consume() -> str:
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            response = handler(json.loads(payload), context)
        assert response == {"batchItemFailures": []}, response
        return captured.getvalue()

    printed = consume()  # warm-up, and the output we count
    documents = sum(1 for line in printed.splitlines() if line.startswith('{"_aws"'))
    lifetimes = sum(1 for index in range(RECORDS) if index % 3)  # every REMOVE has one

    # This machine's speed drifts by 2x from second to second: the two are timed in alternation,
    # and each keeps its best round, the least disturbed one.
    loads, total = float("inf"), float("inf")
    for _ in range(ROUNDS):
        loads = min(loads, best_of(1, lambda: json.loads(payload)))
        total = min(total, best_of(1, consume))  # includes its own json.loads, as Lambda's runtime does
    handler_only = total - loads
    results = {
        "records_per_second": RECORDS / handler_only,
        "ratio_to_json_loads": handler_only / loads,
        "emf_documents": float(documents),
        "emf_document_bound": 1 + lifetimes / 100,
    }
    print_table(
        f"stream_metrics, {RECORDS:,} records (1/3 INSERT, 1/3 REMOVE, 1/3 TTL REMOVE), best of {ROUNDS}",
        [
            ("event size", f"{len(payload) / 1e6:.1f} MB"),
            ("json.loads of the event", f"{loads * 1e3:.0f} ms"),
            ("consumer (handler) time", f"{handler_only * 1e3:.0f} ms"),
            ("consumer / json.loads", f"{results['ratio_to_json_loads']:.2f}x"),
            ("records per second", f"{results['records_per_second']:,.0f}"),
            (
                "EMF documents",
                f"{documents} (bound 1 + {lifetimes}/100 = {results['emf_document_bound']:.0f})",
            ),
            ("log lines (one per event + summary)", f"{printed.count(chr(10)) - documents}"),
        ],
    )
    return results
