"""Developer tools that read a synthesized cloud assembly (never the Python configuration)."""
