import sys

from imaclab.cli import main

sys.exit(main())
