"""`python -m bot …` — the operator command line."""

from bot.cli import main

raise SystemExit(main())
