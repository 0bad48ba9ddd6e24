import sys

from leadsync.cli.main import main

sys.exit(main())
