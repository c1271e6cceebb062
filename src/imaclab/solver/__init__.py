"""imaclab.solver"""
