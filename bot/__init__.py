"""The youth emulation bot: configuration, channels, dispatch and the operator CLI."""
