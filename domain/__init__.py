"""The movement's own vocabulary, below every feature: entry kinds and what they count,
statuses, roles and who acts. Imports nothing from bot/, handlers/ or models/ (a test keeps
it so), so the tables, the services, the handlers and the command line all share it."""
