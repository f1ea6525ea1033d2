"""Samplers: turn prompts into sampled chains of thought (vLLM in process, OpenAI-compatible servers, replay)."""
