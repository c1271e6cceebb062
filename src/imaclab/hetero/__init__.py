"""imaclab.hetero"""
