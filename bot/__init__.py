"""offerbot: card-linked hashtag offers on X."""

__version__ = "0.1.0"
