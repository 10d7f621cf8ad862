#!/usr/bin/env bash
# Sets up and runs the bot: on Telegram and/or Zalo when their tokens are set, otherwise the console
# chat on the embedded SQLite database (var/youthbot.sqlite3). Extra arguments go to the bot.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m bot "${@:-run}"
