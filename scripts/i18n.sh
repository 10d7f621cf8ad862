#!/usr/bin/env bash
# Catalog maintenance. Usage: scripts/i18n.sh extract|update|compile
#   extract  write locales/messages.pot from the source (_(), gettext, ngettext, N_)
#   update   extract, then merge new messages into locales/{vi,en}/LC_MESSAGES/messages.po
#   compile  compile every .po to its .mo (the bot also does this on start when needed)
set -euo pipefail
cd "$(dirname "$0")/.."
PYBABEL=${PYBABEL:-.venv/bin/pybabel}
extract() {
  "$PYBABEL" extract -F babel.cfg -k N_ -k _ -k gettext -k ngettext:1,2 \
    --no-location --sort-output --omit-header -o locales/messages.pot bot handlers models
}
case "${1:-}" in
  extract) extract ;;
  update) extract; "$PYBABEL" update -i locales/messages.pot -d locales --no-fuzzy-matching --ignore-obsolete ;;
  compile) "$PYBABEL" compile -d locales --statistics ;;
  *) echo "usage: $0 extract|update|compile" >&2; exit 2 ;;
esac
