"""imaclab.circuit"""
