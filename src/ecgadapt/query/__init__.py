"""Query strategies for active personalization: which beats to ask the cardiologist to label (registered by name)."""

from ecgadapt.query import diversity, simple, uncertainty  # noqa: F401 - registers the strategies
from ecgadapt.query.base import (Query, QueryPool, QueryStrategy, get_query, list_queries, register_query)

__all__ = ["Query", "QueryPool", "QueryStrategy", "get_query", "list_queries", "register_query"]
