"""The ``imaclab`` command: one module per command group, each turning strings into a job,
calling its room's ``run(job)`` and printing the result with :func:`imaclab.cli.common.render`.

No logic lives here.  A user error (:class:`~imaclab.errors.ImaclabError`) is printed as one
line on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import sys


import typer

from imaclab.cli import demo, hetero, imac, llm, report, sweep, train, tpu
from imaclab.errors import ImaclabError

app = typer.Typer(help="In-memory analog computing and heterogeneous accelerator exploration.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.add_typer(tpu.tpu_app, name="tpu")
app.add_typer(llm.llm_app, name="llm")
app.add_typer(imac.imac_app, name="imac")
app.add_typer(train.train_app, name="train")
app.add_typer(hetero.hetero_app, name="hetero")
app.add_typer(sweep.sweep_app, name="sweep")
app.registered_commands += demo.app.registered_commands
app.registered_commands += report.app.registered_commands


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the typer app; an ImaclabError becomes one line on stderr and exit code 2."""
    try:
        app(args=argv, prog_name="imaclab")
    except SystemExit as ex:  # click's standalone mode always ends with SystemExit (usage errors: 2)
        code = ex.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except ImaclabError as err:
        print(f"imaclab: error: {err}", file=sys.stderr)
        return err.exit_code
    except UnicodeDecodeError as err:  # a binary file where text was expected
        print(f"imaclab: error: an input file is not UTF-8 text ({err.reason} at byte {err.start}); "
              "check the file named on the command line", file=sys.stderr)
        return 2
    except OSError as err:  # the environment (permissions, a full disk, a missing file), not a bug
        where = f"{err.filename}: " if getattr(err, "filename", None) else ""
        print(f"imaclab: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("imaclab: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
