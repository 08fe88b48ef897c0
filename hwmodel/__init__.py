"""hwmodel: analytical PE / systolic-array / memory cost model for low-bit LLM accelerators."""

__all__: list[str] = []
