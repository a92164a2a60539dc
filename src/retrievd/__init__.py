"""retrievd: self-hosted, OpenAI-wire-compatible file search with an assistant runtime."""

__version__ = "0.1.0"
