import sys

from ._daemon_cli import main

sys.exit(main())
