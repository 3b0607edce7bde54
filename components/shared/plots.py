"""Pictures for the MLflow UI: training curves and a confusion matrix (PNG files)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def training_curves(history: List[dict], path: Path) -> Path:
    """Loss and accuracy per epoch, train vs validation, side by side."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    metrics = [m for m in ("loss", "accuracy") if any(m in row for row in history)]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        for key, label in ((m, "train"), (f"val_{m}", "validation")):
            if any(key in row for row in history):
                ax.plot(epochs, [row.get(key, np.nan) for row in history], marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_title(m)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def read_confusion_matrix(evaluation_uri: str, num_classes: int) -> Optional[np.ndarray]:
    """(C, C) counts, rows = actual class, columns = predicted, from TFMA's plots of the candidate."""
    import tensorflow_model_analysis as tfma

    for plots in tfma.load_plots(evaluation_uri):
        if plots.slice_key.single_slice_keys:
            continue
        for kv in plots.plot_keys_and_values:
            if kv.key.model_name not in ("", "candidate"):
                continue
            matrices = kv.value.multi_class_confusion_matrix_at_thresholds.matrices
            if not matrices:
                continue
            cm = np.zeros((num_classes, num_classes))
            for e in matrices[0].entries:
                if 0 <= e.actual_class_id < num_classes and 0 <= e.predicted_class_id < num_classes:
                    cm[e.actual_class_id, e.predicted_class_id] = e.num_weighted_examples
            return cm
    return None


def confusion_matrix(cm: np.ndarray, class_names: Sequence[str], path: Path) -> Path:
    plt = _pyplot()
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.5 * n, 0.8 + 0.5 * n))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(n), class_names, rotation=90)
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, f"{cm[i, j]:.0f}", ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_title("confusion matrix (eval)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def per_class_table(metrics: Dict[str, float], class_names: Sequence[str]) -> str:
    rows = ["class,precision,recall"]
    for i, name in enumerate(class_names):
        rows.append(f"{name},{metrics.get(f'precision/class_{i}', float('nan')):.4f},"
                    f"{metrics.get(f'recall/class_{i}', float('nan')):.4f}")
    return "\n".join(rows) + "\n"
