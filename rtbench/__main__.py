import sys

from rtbench.cli import main

sys.exit(main())
