"""Results of an evaluation as markdown tables, a JSON file and a bar chart.

The bar chart follows the paper's Figure 4: one bar per variant, the mean
test R2 over the splits with the standard deviation as an error bar. A
multi-area result (:class:`~s2vec_geo.evaluation.areas.AreasResult`) gets one
table per mode and metric (a column per area, then the mean over areas and,
for leave-one-area-out, the pooled score) and one chart panel per mode (bars:
mean over areas with the spread across areas; dots: the areas).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from s2vec_geo.evaluation.areas import BLOCKS, LEAVE_ONE_AREA_OUT, AreasResult
from s2vec_geo.evaluation.inputs import MEAN_OVER_AREAS, POOLED
from s2vec_geo.evaluation.protocol import EvaluationResult
from s2vec_geo.io.layers import atomic_path
from s2vec_geo.io.outputs import check_output

#: Metric columns of the reports: name, heading, decimals.
_METRIC_TABLES = (("r2", "R2", 3), ("mae", "MAE, scaled", 4), ("spearman", "Spearman", 3))


def _mean_std(row: pd.Series, metric: str, digits: int) -> str:
    """``mean ± std`` of a metric in a summary row, ``-`` when the result lacks it."""
    if f"{metric}_mean" not in row:
        return "-"
    return f"{row[f'{metric}_mean']:.{digits}f} ± {row[f'{metric}_std']:.{digits}f}"


def results_markdown(result: EvaluationResult) -> str:
    """A markdown table: variant, R2, MAE and Spearman (mean ± std), chosen configuration.

    Examples
    --------
    >>> import pandas as pd
    >>> from s2vec_geo.evaluation.mlp import MLPConfig
    >>> r = EvaluationResult(pd.DataFrame({"variant": ["s2vec"], "split": [0],
    ...     "r2": [0.5], "mae": [0.1], "spearman": [0.7]}), {"s2vec": MLPConfig()})
    >>> print(results_markdown(r).splitlines()[2])
    | s2vec | 0.500 ± 0.000 | 0.1000 ± 0.0000 | 0.700 ± 0.000 | lr=0.001, hidden=128, dropout=0.1 |
    """
    heads = " | ".join(f"{label} (mean ± std)" for _, label, _ in _METRIC_TABLES)
    lines = [f"| variant | {heads} | MLP (lr, hidden, dropout) |", "|---|---|---|---|---|"]
    for name, row in result.summary().iterrows():
        cfg = result.configs.get(name)
        cfg_text = f"lr={cfg.lr:g}, hidden={cfg.hidden}, dropout={cfg.dropout:g}" if cfg else ""
        cells = " | ".join(_mean_std(row, m, d) for m, _, d in _METRIC_TABLES)
        lines.append(f"| {name} | {cells} | {cfg_text} |")
    return "\n".join(lines) + "\n"


def _header(result: EvaluationResult) -> str:
    s = result.settings
    if not s:
        return ""
    transform = ", ".join(s.get("transform") or ()) or "none"
    return (
        f"Target `{s['target']}` (transform: {transform}), {s['labelled_cells']} labelled "
        f"level-{s['level']} cells, "
        f"{s['split']}, {s['n_splits']} runs ({s['test_cells']} test cells in run 0), "
        f"seed {s['seed']}.\n\n"
    )


def areas_markdown(result: AreasResult) -> str:
    """Markdown of a multi-area result: the areas, then per mode one table per metric.

    Examples
    --------
    >>> runs = pd.DataFrame({"mode": "blocks", "area": ["a", "b"], "variant": "s2vec",
    ...     "split": 0, "r2": [0.2, 0.6], "mae": [0.1, 0.1], "spearman": [0.5, 0.7]})
    >>> print(areas_markdown(AreasResult(runs, pd.DataFrame(), {})).splitlines()[4])
    | s2vec | 0.200 ± 0.000 | 0.600 ± 0.000 | 0.400 ± 0.283 |
    """
    parts = [_areas_table(result.settings)] if result.settings.get("areas") else []
    for mode in result.modes:
        parts.append(
            f"## {_MODE_TITLES[mode]}\n\n{_mode_text(result.settings, mode)}".rstrip() + "\n"
        )
        summary = result.summary(mode)
        columns = list(dict.fromkeys(summary.index.get_level_values("area")))
        for metric, label, digits in _METRIC_TABLES:
            lines = [
                f"| {label}, mean ± std | {' | '.join(columns)} |",
                "|---" * (len(columns) + 1) + "|",
            ]
            for variant in dict.fromkeys(summary.index.get_level_values("variant")):
                rows = summary.loc[variant]
                cells = [
                    _mean_std(rows.loc[c], metric, digits) if c in rows.index else "-"
                    for c in columns
                ]
                lines.append(f"| {variant} | {' | '.join(cells)} |")
            parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


_MODE_TITLES = {
    LEAVE_ONE_AREA_OUT: "Leave one area out",
    BLOCKS: "Block splits within each area",
}


def _areas_table(settings: dict[str, Any]) -> str:
    lines = [
        "| area | target | transform | labelled cells | target min | target max |",
        "|---|---|---|---|---|---|",
    ]
    for a in settings["areas"]:
        lines.append(
            f"| {a['name']} | `{a['target']}` | {', '.join(a['transform']) or 'none'} | "
            f"{a['labelled_cells']} | {a['target_min']:.4g} | {a['target_max']:.4g} |"
        )
    return (
        f"{len(settings['areas'])} areas of level-{settings['level']} cells, seed "
        f"{settings['seed']}; scores are on the min-max scaled target.\n\n"
        + "\n".join(lines)
        + "\n"
    )


def _mode_text(settings: dict[str, Any], mode: str) -> str:
    if not settings:
        return ""
    runs, level = settings["n_splits"], settings["block_level"]
    if mode == LEAVE_ONE_AREA_OUT:
        return (
            f"Each area in turn is the test set of an MLP trained on all the other areas "
            f"(runs per area: {runs}); validation: {settings['transfer_val_fraction']:.0%} of the "
            f"training areas' cells in whole level-{level} blocks; target scaled with the "
            f"training areas' min and max. *{MEAN_OVER_AREAS}*: mean ± std across the areas; "
            f"*{POOLED}*: every area's test cells scored together on one scale.\n\n"
        )
    return (
        f"Each area on its own: random 60/20/20 splits of whole level-{level} blocks (runs per "
        f"area: {runs}), target scaled with the area's own min and max. "
        f"*{MEAN_OVER_AREAS}*: mean ± std across the areas.\n\n"
    )


def _bars(ax: Any, summary: pd.DataFrame, title: str) -> None:
    """Mean test R2 per variant (rows of ``summary``) with std error bars."""
    colors = ["#4c72b0" if n.startswith("s2vec") else "#999999" for n in summary.index]
    ax.bar(range(len(summary)), summary["r2_mean"], yerr=summary["r2_std"], color=colors, capsize=3)
    ax.set_xticks(range(len(summary)), summary.index, rotation=35, ha="right")
    ax.set_ylabel("test R²")
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_title(title)


def _area_panels(result: AreasResult, axes: Any) -> None:
    """One panel per mode: bars = mean over areas, dots = each area's mean."""
    for ax, mode in zip(axes, result.modes, strict=True):
        summary = result.summary(mode)
        over = summary.xs(MEAN_OVER_AREAS, level="area")
        _bars(ax, over, _MODE_TITLES[mode])
        areas = [
            a
            for a in dict.fromkeys(summary.index.get_level_values("area"))
            if a not in (MEAN_OVER_AREAS, POOLED)
        ]
        for j, area in enumerate(areas):
            values = summary.xs(area, level="area")["r2_mean"].reindex(over.index)
            x = np.arange(len(over)) + 0.5 * (j + 0.5) / len(areas) - 0.25  # spread inside a bar
            ax.plot(x, values, "o", markersize=4, label=area)
        ax.legend(fontsize=7)


def plot_results(
    result: EvaluationResult | AreasResult, path: str | os.PathLike, title: str = ""
) -> Path:
    """Bar chart of mean test R2 per variant with std error bars (PNG, written atomically).

    A multi-area result gets one panel per mode: the mean over areas with
    the spread across areas, and a dot per area.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> r = EvaluationResult(pd.DataFrame({"variant": ["a", "b"], "split": [0, 0],
    ...     "r2": [0.3, 0.6], "mae": [0.1, 0.08]}), {})
    >>> plot_results(r, pathlib.Path(tempfile.mkdtemp()) / "r2.png").exists()
    True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    several = isinstance(result, AreasResult)
    panels = len(result.modes) if several else 1
    width = max(4.0, 0.9 * result.scores["variant"].nunique() + 1.5)
    fig, axes = plt.subplots(1, panels, figsize=(width * panels, 4.0), squeeze=False)
    if several:
        _area_panels(result, axes[0])
        fig.suptitle(title)
    else:
        default = _header(result).split(",")[0].replace("`", "").strip()
        _bars(axes[0][0], result.summary(), title or default)
    fig.tight_layout()
    target = Path(path)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return target


REPORT_FILES = {"markdown": "results.md", "json": "results.json", "png": "results_r2.png"}
_REPORT_KEYS = {"settings", "configs", "summary", "scores"}


def _written_by_evaluation(path: Path) -> bool:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and set(data) >= _REPORT_KEYS


def check_report_folder(output_dir: str | os.PathLike, overwrite: bool = False) -> None:
    """Refuse a folder holding report files no evaluation wrote, unless ``overwrite``.

    A new folder, one with other files only (they are kept), or an earlier
    evaluation's report (recognised by its ``results.json``) may receive a
    report.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> _ = (out / "results.md").write_text("my notes")
    >>> check_report_folder(out)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ... holds results.md that no s2vec evaluation wrote; choose another ...
    """
    out = check_output(output_dir, folder=True)
    if overwrite or not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"output {str(out)!r} is a file; give a folder for the report")
    present = [name for name in REPORT_FILES.values() if (out / name).exists()]
    if present and not _written_by_evaluation(out / REPORT_FILES["json"]):
        raise ValueError(
            f"{str(out)!r} holds {', '.join(present)} that no s2vec evaluation wrote; choose "
            "another --output, or pass --overwrite to replace them (other files are kept)"
        )


def write_report(
    result: EvaluationResult | AreasResult,
    output_dir: str | os.PathLike,
    title: str = "",
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write ``results.md``, ``results.json`` and ``results_r2.png`` into ``output_dir``.

    Works for one area (:class:`EvaluationResult`) and several
    (:class:`~s2vec_geo.evaluation.areas.AreasResult`). The folder is
    created if needed; every file is written atomically. Files of those
    names that no evaluation wrote are replaced only with ``overwrite``
    (:func:`check_report_folder`); other files in the folder are kept.

    Examples
    --------
    >>> import pandas as pd, tempfile
    >>> r = EvaluationResult(pd.DataFrame({"variant": ["a"], "split": [0],
    ...     "r2": [0.3], "mae": [0.1]}), {})
    >>> sorted(write_report(r, tempfile.mkdtemp()))
    ['json', 'markdown', 'png']
    """
    check_report_folder(output_dir, overwrite)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {kind: out / name for kind, name in REPORT_FILES.items()}
    if isinstance(result, AreasResult):
        text = areas_markdown(result)
    else:
        text = _header(result) + results_markdown(result)
    with atomic_path(paths["markdown"]) as tmp:
        tmp.write_text((f"# {title}\n\n" if title else "") + text)
    with atomic_path(paths["json"]) as tmp:
        tmp.write_text(json.dumps(result.to_dict(), indent=2, allow_nan=True) + "\n")
    plot_results(result, paths["png"], title)
    return paths
