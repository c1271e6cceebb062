"""imaclab.llm"""
