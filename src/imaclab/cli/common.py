"""What every command group shares: the console, the one renderer of results, the common options."""

from __future__ import annotations

from typing import Any

import typer

#: The same short flags everywhere: ``-c`` a config file, ``-o`` the output (folder or file).
CONFIG_OPTION_HELP = "config YAML/JSON to start from (a run's config.yaml replays it)"
SET_OPTION_HELP = "override any config field, dotted.path=value (YAML value; repeatable)"


def build_job(job_class: Any, config: Any, options: dict[str, Any], set_items: list[str] | None, *,
              preset: dict[str, Any] | None = None, default: Any = None) -> Any:
    """The one way every command makes its job: the ``-c`` file (or ``default``, else the job's
    defaults), then ``preset`` (dotted fields applied as given, None included: a device preset
    resets what it does not use), then the options given on the command line (None = not
    given; paths as text), then ``--set``."""
    from pathlib import Path

    if config is not None:
        job = job_class.load(config)
    else:
        job = default if default is not None else job_class()
    given = {key: str(value) if isinstance(value, Path) else value for key, value in options.items()
             if value is not None}
    return job.with_overrides({**(preset or {}), **given}).with_set(set_items)


#: The circuit options of ``imaclab imac`` and ``imaclab train`` (one definition: the same meaning and
#: defaults in both; :func:`circuit_overrides` turns them into the config's fields).
CIRCUIT_OPTIONS = dict(
    crossbar=lambda: typer.Option(None, "--crossbar", help="crossbar size ROWSxCOLUMNS (default 32x32)"),
    r_low=lambda: typer.Option(None, "--r-low", help="low resistance, e.g. 5k (default 5k)"),
    r_high=lambda: typer.Option(None, "--r-high", help="high resistance, e.g. 15k (default 15k)"),
    parasitics=lambda: typer.Option(None, "--parasitics", help="on | off | r | c (default on)"),
    neuron=lambda: typer.Option(None, "--neuron", help="transistor | behavioral (default transistor; the tpu-imac "
                                                       "policies and the models they train: behavioral)"),
    join=lambda: typer.Option(None, "--join", help="auto | sum | average (auto: average under the imacsim "
                                                   "convention, else sum)"),
    loading=lambda: typer.Option(None, "--loading", help="direct | ideal_buffer | buffer (default direct)"),
)


def circuit_overrides(prefix: str = "", **given: Any) -> dict[str, Any]:
    """The :data:`CIRCUIT_OPTIONS` given (None = not given) as dotted overrides of a config's
    circuit fields, each path under ``prefix`` (``"policy.imac."`` for training)."""
    from imaclab.imac.api import parse_crossbar, parse_parasitics, parse_resistance

    out: dict[str, Any] = {}
    if given.get("crossbar") is not None:
        out.update(parse_crossbar(given["crossbar"]))
    if given.get("r_low") is not None:
        out["devices.r_low_ohm"] = parse_resistance(given["r_low"])
    if given.get("r_high") is not None:
        out["devices.r_high_ohm"] = parse_resistance(given["r_high"])
    if given.get("parasitics") is not None:
        out.update(parse_parasitics(given["parasitics"]))
    for name, path in (("neuron", "neuron.kind"), ("join", "circuit.amplifier.join"),
                       ("loading", "circuit.loading.mode")):
        if given.get(name) is not None:
            out[path] = given[name]
    return {prefix + key: value for key, value in out.items()}


def console(width: int | None = None) -> Any:
    from rich.console import Console

    out = Console()
    if width:
        out.width = max(out.width, width)
    return out


def config_option() -> Any:
    return typer.Option(None, "--config", "-c", help=CONFIG_OPTION_HELP)


def set_option(example: str = "") -> Any:
    return typer.Option(None, "--set", help=SET_OPTION_HELP + (f", e.g. --set {example}" if example else ""))


def print_table(table: Any, width: int | None = None) -> None:
    """Print one :class:`imaclab.result.Table` with rich."""
    from rich.table import Table as RichTable

    rich_table = RichTable(title=table.title or None, show_header=table.show_header)
    for i, column in enumerate(table.columns):
        rich_table.add_column(column, justify="left" if i < table.text_columns else "right", no_wrap=True)
    for row in table.rows:
        rich_table.add_row(*row)
    console(width).print(rich_table)


#: The widest :func:`fit_width` makes the console, in characters (wider tables cut cells with an ellipsis).
MAX_FIT_WIDTH = 240


def fit_width(result: Any, most: int = MAX_FIT_WIDTH) -> int:
    """A console width that prints every table of ``result`` without cutting a cell (at most ``most``).

    Cells are never wrapped (see :func:`print_table`): a listing with long text passes this as
    ``render``'s width, so its cells are shown whole.
    """
    widest = 0
    for table in result.tables():
        cells = [table.columns, *table.rows] if table.show_header else list(table.rows)
        widths = [max((len(line) for row in cells for line in str(row[i]).splitlines()), default=0)
                  for i in range(len(table.columns))]
        widest = max(widest, sum(widths) + 3 * len(widths) + 1)  # "│ " before each cell, " " after, "│" closing
    return min(most, widest)


def render(result: Any, width: int | None = None) -> None:
    """Print a result: its tables, then its notes (one line each)."""
    out = console(width)
    for table in result.tables():
        print_table(table, width)
    for line in result.notes():
        out.print(line, highlight=False, markup=False, soft_wrap=True)


def html_option() -> Any:
    return typer.Option(True, "--html/--no-html", help="also write OUT/index.html, the run's page for a browser "
                                                       "(imaclab report OUT rewrites it)")


def publish(result: Any, out_dir: Any, html: bool = True, width: int | None = None) -> None:
    """Write the run folder's page (``index.html``, after every other file of the run) and print the result."""
    if html and out_dir is not None:
        from imaclab.report.html import write_index

        result.files["page"] = write_index(out_dir)
    render(result, width)


def json_option() -> Any:
    return typer.Option(False, "--json", help="print one JSON list")


def show_listing(listing: Any, as_json: bool, width: int | None = None) -> None:
    """A listing command's output: its rows as one JSON list, or its tables sized to fit."""
    if as_json:
        import json

        print(json.dumps(listing.rows, indent=2))
        return
    render(listing, width or fit_width(listing))
