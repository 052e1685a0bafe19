"""Skill scaling laws across LLM families."""
