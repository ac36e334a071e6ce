import sys

from lambda_workflows.cli.main import main

sys.exit(main())
