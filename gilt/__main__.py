from gilt.cli import main

raise SystemExit(main())
