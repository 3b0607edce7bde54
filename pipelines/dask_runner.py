"""Beam's DaskRunner with one fix, so TFX components can run on a dask.distributed cluster.

Beam 2.59's ``DaskRunner.run_pipeline`` hands *every* non-default pipeline option to
``distributed.Client(**options)``: ``--runner`` itself, and the ``extra_packages`` and
``labels`` that TFX adds, make the client refuse to start ("Unexpected keyword arguments:
['extra_packages', 'labels', 'runner']"). This runner passes only DaskOptions' own fields. Its result also waits for one
worker (``Client.wait_for_workers`` has required ``n_workers`` since distributed 2023).
Use it with ``--beam-arg=--runner=edgeflow.pipelines.dask_runner.DaskRunner
--beam-arg=--dask_client_address=tcp://HOST:8786`` (docs/scaling.md, section 2).
"""
from __future__ import annotations

import argparse

from apache_beam.runners.dask import dask_runner as beam_dask
from apache_beam.runners.dask.overrides import dask_overrides


def _dask_fields() -> set:
    parser = argparse.ArgumentParser()
    beam_dask.DaskOptions._add_argparse_args(parser)
    return {a.dest for a in parser._actions if a.dest != "help"}


class _Result(beam_dask.DaskRunnerResult):
    def wait_until_finish(self, duration=None) -> str:
        try:
            self.client.wait_for_workers(1, timeout=None if duration is None else duration / 1000)
            self.client.gather(self.futures, errors="raise")
            self._state = beam_dask.PipelineState.DONE
        except BaseException:
            self._state = beam_dask.PipelineState.FAILED
            raise
        return self._state


class DaskRunner(beam_dask.DaskRunner):
    """Executes a pipeline on a dask.distributed client built from the ``--dask_*`` options only."""

    def run_pipeline(self, pipeline, options):
        import dask.distributed as ddist

        every = options.view_as(beam_dask.DaskOptions).get_all_options(drop_default=True)
        client = ddist.Client(**{k: v for k, v in every.items() if k in _dask_fields()})
        pipeline.replace_all(dask_overrides())
        visitor = self.to_dask_bag_visitor()
        pipeline.visit(visitor)
        futures = client.compute(list(visitor.bags.values()))
        return _Result(client, futures)
