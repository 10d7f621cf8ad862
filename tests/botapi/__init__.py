"""Fake Telegram Bot API server for end-to-end tests."""

from .server import FakeBotApi, SentMessage, UploadedFile

__all__ = ["FakeBotApi", "SentMessage", "UploadedFile"]
