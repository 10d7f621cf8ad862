"""Fake Zalo Bot API server for end-to-end tests."""

from .server import Delivery, FakeZaloBotApi, SentMessage

__all__ = ["Delivery", "FakeZaloBotApi", "SentMessage"]
