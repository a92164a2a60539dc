"""The assistant runtime: Assistants v2 and Responses over the retriever and pluggable model providers."""
