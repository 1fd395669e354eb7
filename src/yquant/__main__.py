from yquant.entrypoints.cli import main

raise SystemExit(main())
