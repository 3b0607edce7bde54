"""edgeflow's DaskRunner on a loopback dask.distributed cluster (a scheduler and two worker processes)."""
import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions


@pytest.mark.slow
def test_dask_runner_takes_tfx_style_options_and_runs_on_both_workers(tmp_path):
    from distributed import Client, LocalCluster, get_task_stream

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster.scheduler_address) as client:
        # --labels and --extra_packages are what TFX adds; Beam's own DaskRunner refuses to start with them.
        opts = PipelineOptions(["--runner=edgeflow.pipelines.dask_runner.DaskRunner",
                                f"--dask_client_address={cluster.scheduler_address}",
                                "--labels=tfx_runner=local", f"--extra_packages={tmp_path}/x.whl"])
        with get_task_stream(client) as stream:
            p = beam.Pipeline(options=opts)
            _ = p | beam.Create(range(100)) | beam.Map(lambda x: (x % 3, x)) | beam.GroupByKey()
            state = p.run().wait_until_finish()
        assert state == "DONE"
        assert len({t["worker"] for t in stream.data}) == 2  # the work ran on both dask workers
