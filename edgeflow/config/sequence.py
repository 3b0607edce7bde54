"""Config section of the sequence pipeline: windows of a series (forecast) or labelled sequences."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from edgeflow.config.base import check

SEQUENCE_TASKS = ("forecast", "classify")
RNN_CELLS = ("lstm", "gru", "simple_rnn")
FORECAST_ANCHORS = ("holt_winters", "seasonal", "last", "none")
FORECAST_INPUTS = ("values", "seasonal_change")
FORECAST_BASELINES = ("persistence", "seasonal_naive", "seasonal_drift", "holt_winters")


@dataclass(frozen=True)
class SequenceConfig:
    """The sequence pipeline: windows of a CSV series (forecast) or labelled sequences (classify).

    forecast: each example is ``window`` rows of the value columns -> the next ``horizon``
    values of ``target``; train/eval split by time (eval is the last ``eval_fraction`` of the
    series, one window of rows between them). classify: one example per sequence id
    (``window`` steps of features) -> its label. Null columns mean "the bundled data's".
    """

    task: str = "forecast"
    window: Optional[int] = None  # input steps; null = from the data: forecast 8 x season (a week and a day of hourly rows) when the series holds 60 seasons, else 2 x season; classify the sequences' length
    horizon: int = 6  # forecast: steps predicted
    season: int = 24  # forecast: steps per season, for the seasonal-naive baseline
    eval_fraction: float = 0.2  # share of the series (or of the sequence ids) held out for eval
    fill: str = "fail"  # forecast: missing steps in the series -> "fail" or "interpolate"
    limit: Optional[int] = None  # keep only the first N rows (forecast) or sequences (classify)
    time_column: Optional[str] = None  # forecast: timestamp column
    target: Optional[str] = None  # forecast: the value column to predict (default: the first)
    cell: str = "lstm"  # lstm | gru | simple_rnn
    units: int = 32
    layers: int = 1  # stacked recurrent layers
    bidirectional: bool = True  # classify only; a forecaster reads the past forwards
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    anchor: str = "holt_winters"  # forecast: the head corrects Holt-Winters run over the window with train-fitted parameters ("holt_winters"), the seasonal-naive ("seasonal") or last-value ("last") forecast, or "none"
    ridge_head: Optional[bool] = None  # forecast, anchor=holt_winters only: a frozen ridge head fitted on the train windows corrects the anchor before the RNN (models/sequence/residual.py); null = on with that anchor
    rnn_steps: Optional[int] = None  # forecast, anchor=holt_winters: the RNN reads the window's last this many rows (null: 2 x season); fewer rows, fewer unrolled steps in an exported file
    inputs: str = "seasonal_change"  # forecast: the RNN reads "values", or "seasonal_change" (values + their change over one season, see models/sequence/model.py)
    baselines: str = ",".join(FORECAST_BASELINES)  # forecast: comma-separated set the model must beat (the best of them), see components/sequence/baselines.py
    max_baseline_ratio: float = 1.0  # blessed only when error < ratio x best baseline's (forecast) or accuracy > baseline's (classify)
    # The SequenceEvaluator scores the model and the window baselines on a seeded sample (train.seed) of at most
    # this many eval windows, and classify's shallow baseline fits on at most this many train sequences (0: all);
    # the log says how many of how many. Holt-Winters still rolls over the whole series, rebuilt as a stream.
    evaluator_max_examples: int = 20000

    def __post_init__(self):
        check(self.task in SEQUENCE_TASKS, "task", f"must be one of {', '.join(SEQUENCE_TASKS)}")
        check(self.window is None or 2 <= self.window <= 1024, "window", "must be between 2 and 1024 (or null)")
        check(1 <= self.horizon <= 256, "horizon", "must be between 1 and 256")
        check(self.task == "classify" or self.horizon <= self.season <= self.steps, "season",
               f"must lie between horizon={self.horizon} and window={self.steps}, got {self.season} "
               "(the seasonal-naive baseline reads the value one season back from inside the window)")
        check(0.05 <= self.eval_fraction <= 0.5, "eval_fraction", "must be in [0.05, 0.5]")
        check(self.fill in ("fail", "interpolate"), "fill", "must be fail or interpolate")
        check(self.limit is None or self.limit >= 10, "limit", "must be at least 10 (or null for all)")
        check(self.cell in RNN_CELLS, "cell", f"must be one of {', '.join(RNN_CELLS)}")
        check(1 <= self.units <= 1024, "units", "must be between 1 and 1024")
        check(1 <= self.layers <= 4, "layers", "must be between 1 and 4")
        check(self.rnn_steps is None or 1 <= self.rnn_steps <= 1024, "rnn_steps", "must be between 1 and 1024 (or null)")
        check(0.0 <= self.dropout < 1.0, "dropout", "must be in [0, 1)")
        check(0.0 <= self.recurrent_dropout < 1.0, "recurrent_dropout", "must be in [0, 1)")
        check(self.anchor in FORECAST_ANCHORS, "anchor", f"must be one of {', '.join(FORECAST_ANCHORS)}")
        check(self.inputs in FORECAST_INPUTS, "inputs", f"must be one of {', '.join(FORECAST_INPUTS)}")
        check(self.task == "classify" or self.inputs != "seasonal_change" or self.season < self.steps, "inputs",
               f"is seasonal_change, which needs window > season; got window={self.steps} and season={self.season}; "
               "lengthen the window or set sequence.inputs=values")
        names = self.baseline_names
        unknown = [n for n in names if n not in FORECAST_BASELINES]
        check(bool(names) and not unknown, "baselines",
              f"must be a comma-separated set of {', '.join(FORECAST_BASELINES)}, got {self.baselines!r}")
        check(self.task == "forecast" or self.baselines == ",".join(FORECAST_BASELINES), "baselines",
              "applies to task=forecast only (classify is compared with the shallow baseline); remove it")
        check(self.task == "classify" or "seasonal_drift" not in names or self.season < self.steps, "baselines",
              f"includes seasonal_drift, which needs window > season; got window={self.steps} and season={self.season}; "
              "lengthen the window or drop seasonal_drift")
        check(not self.ridge_head or (self.task == "forecast" and self.anchor == "holt_winters"), "ridge_head",
              f"corrects a forecaster's holt_winters anchor (task={self.task}, anchor={self.anchor}); leave it null")
        check(0.0 < self.max_baseline_ratio <= 1.0, "max_baseline_ratio", "must be in (0, 1]")
        check(self.evaluator_max_examples >= 0, "evaluator_max_examples",
              "must be 0 (the whole split) or a positive count")

    @property
    def baseline_names(self) -> tuple:
        """`baselines` as a tuple of names, in the given order, without blanks or repeats."""
        return tuple(dict.fromkeys(n.strip() for n in self.baselines.split(",") if n.strip()))

    @property
    def uses_ridge_head(self) -> bool:
        """Whether the forecaster has the ridge head (`ridge_head`, null = with the holt_winters anchor)."""
        return self.ridge_head is not False and self.task == "forecast" and self.anchor == "holt_winters"

    @property
    def steps(self) -> int:
        """The window; a null one is resolved from the data before a run (pipelines/sequence.py), 48 until then."""
        return self.window or 48
