"""Results of an evaluation as a markdown table, a JSON file and a bar chart.

The bar chart follows the paper's Figure 4: one bar per variant, the mean
test R2 over the splits with the standard deviation as an error bar.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from s2vec_geo.downstream.protocol import EvaluationResult
from s2vec_geo.io import atomic_path


def results_markdown(result: EvaluationResult) -> str:
    """A markdown table: variant, R2 mean +- std, MAE mean +- std, chosen configuration.

    Examples
    --------
    >>> import pandas as pd
    >>> from s2vec_geo.downstream.mlp import MLPConfig
    >>> r = EvaluationResult(pd.DataFrame({"variant": ["s2vec"], "split": [0],
    ...     "r2": [0.5], "mae": [0.1]}), {"s2vec": MLPConfig()})
    >>> print(results_markdown(r).splitlines()[2])
    | s2vec | 0.500 ± 0.000 | 0.1000 ± 0.0000 | lr=0.001, hidden=128, dropout=0.1 |
    """
    lines = [
        "| variant | R2 (mean ± std) | MAE, scaled (mean ± std) | MLP (lr, hidden, dropout) |",
        "|---|---|---|---|",
    ]
    for name, row in result.summary().iterrows():
        cfg = result.configs.get(name)
        cfg_text = f"lr={cfg.lr:g}, hidden={cfg.hidden}, dropout={cfg.dropout:g}" if cfg else ""
        lines.append(
            f"| {name} | {row.r2_mean:.3f} ± {row.r2_std:.3f} | "
            f"{row.mae_mean:.4f} ± {row.mae_std:.4f} | {cfg_text} |"
        )
    return "\n".join(lines) + "\n"


def _header(result: EvaluationResult) -> str:
    s = result.settings
    if not s:
        return ""
    return (
        f"Target `{s['target']}`, {s['labelled_cells']} labelled level-{s['level']} cells, "
        f"{s['split']}, {s['n_splits']} runs ({s['test_cells']} test cells in run 0), "
        f"seed {s['seed']}.\n\n"
    )


def plot_results(result: EvaluationResult, path: str | os.PathLike, title: str = "") -> Path:
    """Bar chart of mean test R2 per variant with std error bars (PNG, written atomically).

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

    summary = result.summary()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(summary) + 1.5), 4.0))
    colors = ["#4c72b0" if n.startswith("s2vec") else "#999999" for n in summary.index]
    ax.bar(range(len(summary)), summary["r2_mean"], yerr=summary["r2_std"], color=colors, capsize=3)
    ax.set_xticks(range(len(summary)), summary.index, rotation=35, ha="right")
    ax.set_ylabel("test R²")
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_title(title or _header(result).split(",")[0].replace("`", "").strip())
    fig.tight_layout()
    target = Path(path)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return target


def write_report(
    result: EvaluationResult, output_dir: str | os.PathLike, title: str = ""
) -> dict[str, Path]:
    """Write ``results.md``, ``results.json`` and ``results_r2.png`` into ``output_dir``.

    The folder is created if needed; every file is written atomically.

    Examples
    --------
    >>> import pandas as pd, tempfile
    >>> r = EvaluationResult(pd.DataFrame({"variant": ["a"], "split": [0],
    ...     "r2": [0.3], "mae": [0.1]}), {})
    >>> sorted(write_report(r, tempfile.mkdtemp()))
    ['json', 'markdown', 'png']
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "markdown": out / "results.md",
        "json": out / "results.json",
        "png": out / "results_r2.png",
    }
    with atomic_path(paths["markdown"]) as tmp:
        tmp.write_text(
            (f"# {title}\n\n" if title else "") + _header(result) + results_markdown(result)
        )
    with atomic_path(paths["json"]) as tmp:
        tmp.write_text(json.dumps(result.to_dict(), indent=2, allow_nan=True) + "\n")
    plot_results(result, paths["png"], title)
    return paths
