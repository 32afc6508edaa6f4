import sys

from deepear.cli import main

sys.exit(main())
