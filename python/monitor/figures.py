"""The report's figures (seaborn on matplotlib's Agg backend), each rendered to PNG bytes.

Figures are built on ``matplotlib.figure.Figure`` objects, not through pyplot's global state, so
nothing leaks between figures and nothing has to be closed. Every function takes the data it
shows and returns a ``Figure``; ``png`` renders one.
"""

from __future__ import annotations

import io
from typing import Sequence

import matplotlib
import matplotlib.axes

matplotlib.use("Agg")

import matplotlib.dates  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from monitor.drift import DRIFT, MODERATE, FeatureDrift  # noqa: E402
from monitor.image_stats import STAT_NAMES  # noqa: E402
from monitor.loadtest_results import LoadTestResults  # noqa: E402

SCATTER_MAX_POINTS = 20_000
TIME_BUCKETS = (
    "1s",
    "5s",
    "10s",
    "30s",
    "1min",
    "5min",
    "15min",
    "30min",
    "1h",
    "3h",
    "6h",
    "12h",
    "1D",
    "7D",
)
TARGET_BUCKETS = 60
VERDICT_COLOURS = {DRIFT: "#c0392b", MODERATE: "#d68910"}
# Text comes from data (class labels, error names, the capture URI): a `$` in it is plain text,
# not the start of a matplotlib mathtext formula (which a stray `\` would make fail to render).
PLAIN_TEXT = {"text.parse_math": False}
_STYLE = {
    **sns.axes_style("whitegrid"),
    **sns.plotting_context("notebook", font_scale=0.9),
    **PLAIN_TEXT,
}


def png(figure: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    with matplotlib.rc_context(PLAIN_TEXT):  # tick labels are made as the figure is drawn
        figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _figure(width: float, height: float, rows: int = 1, cols: int = 1) -> tuple[Figure, np.ndarray]:
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(width, height), layout="constrained")
        axes = figure.subplots(rows, cols, squeeze=False)
    return figure, axes


def palette(labels: Sequence[str]) -> dict[str, tuple]:
    """One colour per class, the same in every figure."""
    return dict(zip(labels, sns.color_palette("deep", max(len(labels), 1))))


def time_bucket(times: pd.Series) -> str:
    """The smallest of ``TIME_BUCKETS`` that cuts the time span into at most ~60 buckets."""
    span = times.max() - times.min()
    for freq in TIME_BUCKETS:
        if span / pd.Timedelta(freq) <= TARGET_BUCKETS:
            return freq
    return TIME_BUCKETS[-1]


def _time_axis(ax: matplotlib.axes.Axes) -> None:
    locator = matplotlib.dates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(matplotlib.dates.ConciseDateFormatter(locator))


def _bucketed(frame: pd.DataFrame) -> tuple[pd.Series, str]:
    freq = time_bucket(frame["time"])
    return frame["time"].dt.floor(freq), freq


def _full_range(index: pd.Index, freq: str) -> pd.DatetimeIndex:
    return pd.date_range(index.min(), index.max(), freq=freq)


def confidence_by_class(frame: pd.DataFrame, threshold: float, labels: Sequence[str]) -> Figure:
    figure, axes = _figure(8, 4)
    ax = axes[0, 0]
    with matplotlib.rc_context(_STYLE):
        low = min(1.0 / max(len(labels), 1), float(frame["confidence"].min()))
        sns.histplot(
            data=frame,
            x="confidence",
            hue="predicted_class",
            hue_order=list(labels),
            palette=palette(labels),
            bins=40,
            binrange=(low, 1.0),
            element="step",
            ax=ax,
        )
        ax.axvline(threshold, color="#c0392b", linestyle="--", linewidth=1.5)
        ax.text(
            threshold,
            0.98,
            f" threshold {threshold:g}",
            color="#c0392b",
            transform=ax.get_xaxis_transform(),
            va="top",
            ha="right" if threshold > 0.8 else "left",
        )
        ax.set(xlabel="confidence (highest probability)", ylabel="inferences")
        ax.set_title("Confidence per predicted class")
    return figure


def predictions_over_time(frame: pd.DataFrame, labels: Sequence[str]) -> Figure:
    buckets, freq = _bucketed(frame)
    counts = pd.crosstab(buckets, frame["predicted_class"], dropna=False)
    counts = counts.reindex(
        index=_full_range(counts.index, freq), columns=list(labels), fill_value=0
    )
    long = counts.rename_axis(index="time", columns="predicted_class").stack().rename("count")
    figure, axes = _figure(8, 3.6)
    ax = axes[0, 0]
    with matplotlib.rc_context(_STYLE):
        sns.lineplot(
            data=long.reset_index(),
            x="time",
            y="count",
            hue="predicted_class",
            hue_order=list(labels),
            palette=palette(labels),
            marker="o",
            ax=ax,
        )
        ax.set_ylim(bottom=0)
        _time_axis(ax)
        ax.set(xlabel=f"time (UTC), buckets of {freq}", ylabel="inferences per bucket")
        ax.set_title("Predictions per class over time")
    return figure


def low_confidence_rate(frame: pd.DataFrame, threshold: float) -> Figure:
    buckets, freq = _bucketed(frame)
    low = (frame["confidence"] < threshold).groupby(buckets).agg(["mean", "size"])
    figure, axes = _figure(8, 3.6)
    ax = axes[0, 0]
    with matplotlib.rc_context(_STYLE):
        sns.lineplot(x=low.index, y=low["mean"] * 100, marker="o", color="#d68910", ax=ax)
        overall = float((frame["confidence"] < threshold).mean() * 100)
        ax.axhline(overall, color="grey", linestyle=":", label=f"overall {overall:.1f} %")
        ax.set_ylim(-2, 102)
        _time_axis(ax)
        ax.set(xlabel=f"time (UTC), buckets of {freq}", ylabel="% below threshold")
        ax.set_title(f"Low-confidence rate over time (confidence < {threshold:g})")
        ax.legend(loc="upper right")
    return figure


def confidence_over_time(frame: pd.DataFrame, threshold: float, labels: Sequence[str]) -> Figure:
    shown = frame
    if len(frame) > SCATTER_MAX_POINTS:
        shown = frame.sample(SCATTER_MAX_POINTS, random_state=0)
    buckets, freq = _bucketed(frame)
    median = frame["confidence"].groupby(buckets).median()
    figure, axes = _figure(8, 3.6)
    ax = axes[0, 0]
    with matplotlib.rc_context(_STYLE):
        sns.scatterplot(
            data=shown,
            x="time",
            y="confidence",
            hue="predicted_class",
            hue_order=list(labels),
            palette=palette(labels),
            s=10,
            alpha=0.5,
            linewidth=0,
            rasterized=True,
            ax=ax,
        )
        ax.plot(median.index, median.values, color="black", linewidth=1.2, label="median")
        ax.axhline(threshold, color="#c0392b", linestyle="--", linewidth=1.2, label="threshold")
        sampled = (
            f" (random {SCATTER_MAX_POINTS:,} of {len(frame):,})" if shown is not frame else ""
        )
        _time_axis(ax)
        ax.set(xlabel=f"time (UTC); median per {freq}", ylabel="confidence")
        ax.set_title(f"Confidence over time{sampled}")
        ax.legend(loc="lower left", fontsize="small", ncol=2)
    return figure


def class_mix(frame: pd.DataFrame, prior: dict[str, float], labels: Sequence[str]) -> Figure:
    shares = frame["predicted_class"].value_counts(normalize=True).reindex(labels, fill_value=0)
    rows = [
        {"class": c, "source": "captured (predicted)", "share": float(shares[c])} for c in labels
    ]
    rows += [{"class": c, "source": "training prior", "share": float(prior[c])} for c in prior]
    figure, axes = _figure(max(5, 1.4 * len(labels) + 2), 3.6)
    ax = axes[0, 0]
    with matplotlib.rc_context(_STYLE):
        sns.barplot(data=pd.DataFrame(rows), x="class", y="share", hue="source", ax=ax)
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_ylim(0, 1.2 * max(row["share"] for row in rows))
        ax.legend(loc="upper center", ncol=2, fontsize="small")
        ax.set(xlabel="", ylabel="share of inferences")
        ax.set_title("Class mix: captured predictions vs training prior")
    return figure


def input_drift(
    frame: pd.DataFrame, baseline_stats: dict[str, dict], drift: Sequence[FeatureDrift]
) -> Figure:
    """Per image statistic: the training histogram against the captured one, with the verdict."""
    by_feature = {d.feature: d for d in drift}
    figure, axes = _figure(12, 6.4, rows=2, cols=3)
    with matplotlib.rc_context(_STYLE):
        for ax, feature in zip(axes.flat, STAT_NAMES):
            values = frame[feature].dropna().to_numpy()
            stat = baseline_stats.get(feature)
            edges = (
                np.asarray(stat["histogram"]["bins"])
                if stat
                else np.histogram_bin_edges(values, 30)
            )
            if stat:
                counts = np.asarray(stat["histogram"]["counts"], float)
                density = counts / (counts.sum() * np.diff(edges))
                ax.stairs(density, edges, fill=True, alpha=0.35, color="#7f8c8d", label="training")
            sns.histplot(
                x=values,
                bins=edges,
                stat="density",
                element="step",
                fill=False,
                color="#2471a3",
                linewidth=1.5,
                label="captured",
                ax=ax,
            )
            ax.set_xlim(*_visible_range(edges, stat, values))
            ax.set(xlabel=feature, ylabel="density")
            result = by_feature.get(feature)
            if result is None or result.psi is None:
                ax.set_title(f"{feature}: {'no baseline' if not stat else 'not enough data'}")
            else:
                ax.set_title(
                    f"{feature}: PSI {result.psi:.3f}, p {result.p_value:.2g}\n{result.verdict}",
                    color=VERDICT_COLOURS.get(result.verdict, "#1e8449"),
                )
        legend_ax = axes.flat[len(STAT_NAMES)]
        legend_ax.axis("off")
        handles, names = axes.flat[0].get_legend_handles_labels()
        legend_ax.legend(handles, names, loc="center", title="inputs")
        figure.suptitle("Input drift: image statistics of captured inputs vs training images")
    return figure


def _visible_range(edges: np.ndarray, stat: dict | None, values: np.ndarray) -> tuple[float, float]:
    """Zoom on where the data is: the occupied baseline bins and the captured values."""
    low, high = [], []
    if stat:
        occupied = np.nonzero(np.asarray(stat["histogram"]["counts"]))[0]
        low.append(edges[occupied[0]])
        high.append(edges[occupied[-1] + 1])
    if values.size:
        low.append(values.min())
        high.append(values.max())
    lo, hi = (min(low), max(high)) if low else (edges[0], edges[-1])
    pad = (hi - lo) * 0.05 or 0.01
    return lo - pad, hi + pad


def loadtest_latency(results: LoadTestResults) -> Figure | None:
    """Latency histogram and ECDF per outcome; ``None`` when the CSV has no latencies."""
    executions = results.executions
    if executions is None or not executions["latency_ms"].notna().any():
        return None
    data = executions.dropna(subset=["latency_ms"])
    figure, axes = _figure(12, 4, cols=2)
    with matplotlib.rc_context(_STYLE):
        log = bool(
            data["latency_ms"].min() > 0
            and data["latency_ms"].max() > 20 * data["latency_ms"].min()
        )
        sns.histplot(
            data=data,
            x="latency_ms",
            hue="outcome",
            element="step",
            bins=40,
            log_scale=log,
            ax=axes[0, 0],
        )
        axes[0, 0].set(xlabel="end-to-end latency (ms)", ylabel="executions")
        axes[0, 0].set_title("Load test: latency per outcome")
        sns.ecdfplot(data=data, x="latency_ms", hue="outcome", log_scale=log, ax=axes[0, 1])
        for name, value in results.latencies().items():
            axes[0, 1].axvline(value, color="grey", linestyle=":", linewidth=1)
            axes[0, 1].text(value, 0.02, f" {name}", rotation=90, color="grey", va="bottom")
        axes[0, 1].set(xlabel="end-to-end latency (ms)", ylabel="share of executions")
        axes[0, 1].set_title("Load test: latency ECDF")
    return figure


def loadtest_outcomes(results: LoadTestResults) -> Figure | None:
    """Executions per outcome (status or error name, and lost); ``None`` without any count."""
    outcomes = results.outcomes()
    if not outcomes:
        return None
    data = pd.DataFrame({"outcome": list(outcomes), "executions": list(outcomes.values())})
    figure, axes = _figure(max(5, 1.2 * len(data) + 2), 3.6)
    ax = axes[0, 0]
    with matplotlib.rc_context(_STYLE):
        sns.barplot(data=data, x="outcome", y="executions", hue="outcome", legend=False, ax=ax)
        for container in ax.containers:
            ax.bar_label(container, fmt="%d")
        ax.set(xlabel="", ylabel="executions")
        ax.set_title("Load test: outcomes")
    return figure
