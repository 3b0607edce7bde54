"""Probes Beam 2.59's DaskRunner on a loopback dask.distributed cluster (a scheduler, two worker processes).

Runs, in order, what edgeflow's data steps need from a runner and prints what each did:
a plain Create/Map/GroupByKey, a DoFn with setup/metrics, a side input, a multi-output ParDo, a
TFRecord write, and finally the image pipeline's data steps (``edgeflow run image --preset tiny``'s
ExampleGen onwards) through ``--runner=apache_beam.runners.dask.dask_runner.DaskRunner``.
Usage: python benchmarks/dask_runner.py OUTPUT_DIR   (needs the ``dask`` extra: pip install -e ".[dask]")
"""
from __future__ import annotations

import sys
import tempfile
import time
import traceback

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

DASK_RUNNER = "edgeflow.pipelines.dask_runner.DaskRunner"  # Beam's, with its options fix


def probe(name, build, address):
    opts = PipelineOptions([f"--runner={DASK_RUNNER}", f"--dask_client_address={address}"])
    start = time.perf_counter()
    try:
        p = beam.Pipeline(options=opts)
        build(p)
        p.run().wait_until_finish()
        print(f"{name}: ran ({time.perf_counter() - start:.1f} s)")
        return True
    except Exception as err:  # noqa: BLE001 - the probe reports whatever the runner raised
        last = traceback.format_exception_only(type(err), err)[-1].strip()
        print(f"{name}: FAILED: {last[:400]}")
        return False


class _Counting(beam.DoFn):
    def setup(self):
        self.ready = True

    def process(self, x):
        assert self.ready, "setup() was not called"
        beam.metrics.Metrics.counter("probe", "seen").inc()
        yield x


def main(out: str) -> None:
    from distributed import Client, LocalCluster, get_task_stream

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None)
    address = cluster.scheduler_address
    client = Client(address)
    print("cluster", address, "workers", len(client.scheduler_info()["workers"]))
    with get_task_stream(client) as stream:
        probe("Create|Map|GroupByKey", lambda p: (p | beam.Create(range(100)) | beam.Map(lambda x: (x % 3, x))
                                                   | beam.GroupByKey()), address)
    print(f"  dask tasks run: {len(stream.data)} on {len({t['worker'] for t in stream.data})} workers")
    probe("DoFn with setup()", lambda p: p | beam.Create(range(10)) | beam.ParDo(_Counting()), address)
    probe("side input (AsList)", lambda p: (p | "a" >> beam.Create(range(10))
                                            | beam.Map(lambda x, s: x + len(s),
                                                       beam.pvalue.AsList(p | "b" >> beam.Create([1, 2])))),
          address)
    probe("tagged outputs", lambda p: (p | beam.Create(range(10))
                                       | beam.FlatMap(lambda x: [beam.pvalue.TaggedOutput("odd", x)] if x % 2 else [x])
                                       .with_outputs("odd", main="even")), address)
    probe("WriteToTFRecord", lambda p: p | beam.Create([b"a", b"b"]) | beam.io.WriteToTFRecord(f"{out}/probe"),
          address)

    from edgeflow.config import load_config
    from edgeflow.pipelines.runner import run_pipeline
    cfg = load_config("image", "tiny", updates={"output": f"{out}/dask", "tracking": {"enabled": False}})
    start = time.perf_counter()
    with get_task_stream(client) as stream:
        try:
            outcome = run_pipeline(cfg, [f"--runner={DASK_RUNNER}", f"--dask_client_address={address}"])
            print("image pipeline on DaskRunner ->", outcome, f"({time.perf_counter() - start:.0f} s)")
        except Exception as err:  # noqa: BLE001
            print("image pipeline on DaskRunner FAILED:", repr(err)[:800])
    workers = {t["worker"] for t in stream.data}
    print(f"dask tasks run: {len(stream.data)} on {len(workers)} workers")
    client.close()
    cluster.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
