#!/usr/bin/env bash
# Catalog maintenance. Usage: scripts/i18n.sh extract|update|compile
#   extract  write locales/messages.pot from the source (_(), gettext, ngettext, N_, and with
#            a context, NC_(context, text), pgettext and npgettext)
#   update   extract, then merge new messages into locales/{vi,en}/LC_MESSAGES/messages.po
#            (English entries start as the source text; translate the Vietnamese ones)
#   compile  compile every .po to its .mo (the bot also does this on start when needed)
set -euo pipefail
cd "$(dirname "$0")/.."
PYBABEL=${PYBABEL:-.venv/bin/pybabel}
extract() {
  "$PYBABEL" extract -F babel.cfg -k N_ -k _ -k gettext -k ngettext:1,2 \
    -k NC_:1c,2 -k pgettext:1c,2 -k npgettext:1c,2,3 \
    --no-location --sort-output --omit-header -w 99 -o locales/messages.pot bot domain handlers models
}
case "${1:-}" in
  extract) extract ;;
  update)
    extract
    "$PYBABEL" update -i locales/messages.pot -d locales -w 99 --no-fuzzy-matching --ignore-obsolete
    # The source strings are English: the English catalog starts from them.
    "$(dirname "$PYBABEL")/python" - <<'PY'
from babel.messages.pofile import read_po, write_po
path = "locales/en/LC_MESSAGES/messages.po"
with open(path, "rb") as handle:
    catalog = read_po(handle, locale="en")
for message in catalog:
    if message.id and not (message.string if isinstance(message.string, str) else any(message.string)):
        message.string = message.id
with open(path, "wb") as handle:
    write_po(handle, catalog, width=99, include_lineno=False)
PY
    ;;
  compile) "$PYBABEL" compile -d locales --statistics ;;
  *) echo "usage: $0 extract|update|compile" >&2; exit 2 ;;
esac
