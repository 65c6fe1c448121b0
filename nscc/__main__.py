import sys

from nscc.cli import main

sys.exit(main())
