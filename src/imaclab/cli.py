"""The ``imaclab`` command: parse arguments, call one library function, print.

No logic lives here.  Each room's commands sit in their own section below; a
user error (:class:`~imaclab.errors.ImaclabError`) is printed as one line on
stderr with a non-zero exit, never as a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from imaclab.errors import ImaclabError

app = typer.Typer(help="In-memory analog computing and heterogeneous accelerator exploration.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
tpu_app = typer.Typer(help="Systolic-array (TPU) performance model.", no_args_is_help=True)
llm_app = typer.Typer(help="LLM workloads, costs and Amdahl's law for 1-bit quantization.", no_args_is_help=True)
imac_app = typer.Typer(help="IMAC circuits: map an MLP to crossbars, simulate, evaluate.", no_args_is_help=True)
train_app = typer.Typer(help="Hardware-aware mixed-precision training.", no_args_is_help=True)
hetero_app = typer.Typer(help="TPU-IMAC heterogeneous accelerator vs a TPU-only baseline.", no_args_is_help=True)
sweep_app = typer.Typer(help="Design-space sweeps on local processes or Dask.", no_args_is_help=True)
for _name, _sub in (("tpu", tpu_app), ("llm", llm_app), ("imac", imac_app), ("train", train_app),
                    ("hetero", hetero_app), ("sweep", sweep_app)):
    app.add_typer(_sub, name=_name)


def _console():
    from rich.console import Console

    return Console()


# ---------------------------------------------------------------------------- tpu
# (commands of the systolic room)

# ---------------------------------------------------------------------------- llm
# (commands of the llm room)

# ---------------------------------------------------------------------------- imac
# (commands of the imac room)

# ---------------------------------------------------------------------------- train
# (commands of the nn room)

# ---------------------------------------------------------------------------- hetero
# (commands of the hetero room)

# ---------------------------------------------------------------------------- sweep
# (commands of the sweep room)

# ---------------------------------------------------------------------------- demo
# (the end-to-end default job of `make demo`)


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point: run the typer app, turning ImaclabError into one line and exit code."""
    try:
        app(args=argv, standalone_mode=False)
    except ImaclabError as err:
        print(f"imaclab: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("imaclab: interrupted", file=sys.stderr)
        return 130
    except typer.Exit as ex:
        return ex.exit_code
    except SystemExit as ex:  # click usage errors in standalone_mode=False raise click exceptions
        return int(ex.code or 0)
    except Exception as err:  # click.exceptions.UsageError and friends
        import click

        if isinstance(err, click.exceptions.ClickException):
            err.show()
            return err.exit_code
        if isinstance(err, click.exceptions.Abort):
            print("imaclab: aborted", file=sys.stderr)
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
