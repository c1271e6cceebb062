"""imaclab.imac"""
