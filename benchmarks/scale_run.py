"""Scheduled re-runs and Beam parallelism, measured side by side in one process.

    .venv/bin/python benchmarks/scale_run.py [--per-class 30]

1. Cache: a fresh tiny run with pipeline.cache=true, a first re-run (the Evaluator runs again:
   its baseline changed from none to run 1's model), then a steady-state re-run with nothing
   changed; prints each re-run's wall time as a ratio to the fresh run.
2. ExampleGen throughput: the ImageFolderExampleGen's Beam transform over one image folder with
   DirectRunner single-process (in_memory) vs multi_processing with 2 workers; examples/s.
"""
import argparse
import tempfile
import time
from pathlib import Path

import edgeflow  # noqa: F401
from edgeflow.config import load_config
from edgeflow.pipelines.runner import run_pipeline


def cache_ratio(out: Path):
    cfg = load_config("image", "tiny", overrides=["pipeline.cache=true", "tracking.enabled=false"],
                      updates={"output": str(out)})
    times = []
    for _ in range(3):
        t0 = time.time()
        outcome = run_pipeline(cfg)
        times.append((time.time() - t0, len(outcome.cached_components)))
    return times


def examplegen_throughput(folder: Path, mode: str, workers: int) -> tuple:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from edgeflow.components.image.example_gen import _ImageFolderToExample

    opts = PipelineOptions(["--runner=DirectRunner", f"--direct_running_mode={mode}",
                            f"--direct_num_workers={workers}"])
    out = tempfile.mkdtemp(prefix="edgeflow-eg-")
    t0 = time.time()
    with beam.Pipeline(options=opts) as p:
        (p | _ImageFolderToExample({"input_base": str(folder)}, "*/*")
           | beam.Map(lambda e: e.SerializeToString())
           | beam.io.WriteToTFRecord(f"{out}/examples"))
    return time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-cache", action="store_true")
    args = ap.parse_args()
    from edgeflow.pipelines.bundled.digits import write_digits_folder

    work = Path(tempfile.mkdtemp(prefix="edgeflow-scale-"))
    folder = write_digits_folder(work / "data", None)  # all 1,797 digits
    n = sum(1 for _ in folder.glob("*/*.png"))
    print(f"\nExampleGen transform over {n} images (DirectRunner):")
    for mode, workers in (("in_memory", 1), ("multi_processing", 2), ("in_memory", 1), ("multi_processing", 2)):
        sec = examplegen_throughput(folder, mode, workers)
        print(f"  {mode:17} workers={workers}  {sec:6.1f}s  {n / sec:7.0f} examples/s")
    if not args.skip_cache:
        times = cache_ratio(work / "out")
        fresh = times[0][0]
        print("\nTiny image pipeline with pipeline.cache=true (no MLflow):")
        for label, (sec, cached) in zip(("fresh run", "re-run 1 (new baseline)", "re-run 2 (nothing changed)"), times):
            print(f"  {label:27} {sec:6.1f}s  ratio {sec / fresh:5.2f}  components from cache: {cached}")


if __name__ == "__main__":
    main()
